#pragma once
// RAII owners for Hyperscan and PCRE2 objects. Every hs_* / pcre2_* allocation in medic
// lives in one of these, so no path can leak or double-free them.

#define PCRE2_CODE_UNIT_WIDTH 8
#include <hs.h>
#include <pcre2.h>

#include <memory>

namespace medic::match {

struct HsDatabaseFree {
  void operator()(hs_database_t* p) const { hs_free_database(p); }
};
struct HsScratchFree {
  void operator()(hs_scratch_t* p) const { hs_free_scratch(p); }
};
struct HsCompileErrorFree {
  void operator()(hs_compile_error_t* p) const { hs_free_compile_error(p); }
};
struct HsExprInfoFree {
  // hs_expression_info allocates with the misc allocator, which defaults to malloc.
  void operator()(hs_expr_info_t* p) const { std::free(p); }
};
// Closing without a scratch discards end-of-stream matches; Stream::finish closes with
// one first, so this deleter only runs for streams abandoned on error or destruction.
struct HsStreamClose {
  void operator()(hs_stream_t* p) const { hs_close_stream(p, nullptr, nullptr, nullptr); }
};

using HsDatabasePtr = std::unique_ptr<hs_database_t, HsDatabaseFree>;
using HsScratchPtr = std::unique_ptr<hs_scratch_t, HsScratchFree>;
using HsCompileErrorPtr = std::unique_ptr<hs_compile_error_t, HsCompileErrorFree>;
using HsExprInfoPtr = std::unique_ptr<hs_expr_info_t, HsExprInfoFree>;
using HsStreamPtr = std::unique_ptr<hs_stream_t, HsStreamClose>;

struct Pcre2CodeFree {
  void operator()(pcre2_code* p) const { pcre2_code_free(p); }
};
struct Pcre2MatchDataFree {
  void operator()(pcre2_match_data* p) const { pcre2_match_data_free(p); }
};
using Pcre2CodePtr = std::unique_ptr<pcre2_code, Pcre2CodeFree>;
using Pcre2MatchDataPtr = std::unique_ptr<pcre2_match_data, Pcre2MatchDataFree>;

}  // namespace medic::match
