// Source of the seeds in tests/fuzz/corpus-elf: tiny ELF files carrying the
// symbols and the .PyRuntime section the interpreter locator looks up. Made with
//   gcc -O1 -shared -fPIC -nostdlib -Wl,--build-id=none -Wl,-z,max-page-size=4096 \
//       -Wl,-z,noseparate-code -o shared-symtab.so elf_seed.c
//   (then strip --strip-all for shared-stripped.so; head -c 3000 for shared-truncated.so)
//   gcc -O1 -static-pie -fPIE -nostdlib ... -Wl,-e,get_head -o static-pie elf_seed.c
//   gcc -O1 -no-pie -static -nostdlib ... -Wl,-e,get_head -o static-exec elf_seed.c
struct runtime { void* interpreters[4]; long gil[8]; } _PyRuntime __attribute__((section(".PyRuntime"))) = {{0}};
unsigned long Py_Version = 0x030c01f0;
struct type { long refcnt; void* type; const char* name; } PyCode_Type = {1, 0, "code"}, PyUnicode_Type = {1, 0, "str"};
void* _PyThreadState_Current;
static void* interp_head;
void* get_head(void) { return interp_head; }
const char* Py_GetVersion(void) { return "3.12.1"; }
