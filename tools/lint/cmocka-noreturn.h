/*
 * For clang-tidy only (make lint passes it with -include): cmocka's _fail(),
 * behind fail() and fail_msg(), never returns (it longjmps out of the test)
 * but is not declared so, and the analyzer then walks on past every failed
 * check into paths that cannot run. Declaring it noreturn is all this does;
 * no build uses this file.
 */
/* NOLINTNEXTLINE(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp): cmocka's name */
void _fail(const char *const file, const int line) __attribute__((noreturn));
