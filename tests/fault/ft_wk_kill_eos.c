/* ft_wk_kill_eos: ft_wk_kill with WK_EOS=on (Kafka transactions): 0 repeats. */
#define KILL_EOS 1
/* NOLINTNEXTLINE(bugprone-suspicious-include): one source, two tests */
#include "ft_wk_kill.c"
