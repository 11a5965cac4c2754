/* ft_ss_crashwalk: ft_ss_kill walking every crash point of source-sink's fault build. */
#define SS_CRASHWALK 1
/* NOLINTNEXTLINE(bugprone-suspicious-include): one source, two tests */
#include "ft_ss_kill.c"
