/*
 * mf_banned: functions meterflow code must not call.
 *
 * Each has a bounded or reentrant replacement: snprintf for the string
 * builders, gmtime_r/localtime_r for the time functions, strtol/strtod with
 * an end pointer and errno for the number parsers. Included last from
 * mf_common.h, after every system header, so it only catches our own calls.
 */
#ifndef MF_BANNED_H
#define MF_BANNED_H

#define MF_BANNED(func) sorry_##func##_is_banned_in_meterflow

#undef strcpy
#define strcpy(x, y) MF_BANNED(strcpy)
#undef strcat
#define strcat(x, y) MF_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) MF_BANNED(strncpy)
#undef sprintf
#define sprintf(...) MF_BANNED(sprintf)
#undef strtok
#define strtok(x, y) MF_BANNED(strtok)
#undef gmtime
#define gmtime(t) MF_BANNED(gmtime)
#undef localtime
#define localtime(t) MF_BANNED(localtime)
#undef ctime
#define ctime(t) MF_BANNED(ctime)
#undef atoi
#define atoi(s) MF_BANNED(atoi)
#undef atol
#define atol(s) MF_BANNED(atol)
#undef atof
#define atof(s) MF_BANNED(atof)

#endif
