/* ft_ss_crashwalk: ft_ss_kill walking every crash point of source-sink's fault build. */
#define SS_CRASHWALK 1
#include "ft_ss_kill.c"
