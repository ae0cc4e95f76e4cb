#pragma once
// The libFuzzer entry points every target defines. Built two ways (tests/fuzz/CMakeLists.txt):
// with clang's -fsanitize=fuzzer for fuzzing (MEDIC_FUZZ=ON), and with replay_main.cpp
// under any compiler so CI replays the committed seed corpus of each target as a test.

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

// A broken invariant: abort so libFuzzer keeps the input as a crash and the replay fails.
#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      __builtin_printf("%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      __builtin_abort();                                                            \
    }                                                                               \
  } while (0)
