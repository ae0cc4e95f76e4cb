#include "decide/breaker.h"

namespace medic::decide {

BreakerOutlook predict_breaker(const ExitInfo& exit, const BreakerFacts& f) {
  BreakerOutlook o;
  const std::string& k = exit.event_kind;
  if (k == "rate_limited" || k == "stale" || k == "reclaimed" || k == "gave_up" || exit.rc == 75) return o;
  const bool protocol_violation = k == "protocol_violation" || (k.empty() && exit.rc == 0);
  // Anything else (a non-zero exit, a signal, a death nobody classified) is a crash to
  // Hermes, whose budget is the smaller one.
  o.counted = true;
  const int add = f.run_closed ? 0 : 1;
  if (protocol_violation) {
    o.limit = f.max_retries.value_or(3);
    o.failures = f.pv_streak + add;
    o.budget = "protocol violations in a row";
  } else {
    o.limit = f.max_retries.value_or(f.failure_limit);
    o.failures = f.consecutive_failures + add;
    o.budget = "consecutive failures";
  }
  o.trips = o.limit > 0 && o.failures >= o.limit;
  return o;
}

}  // namespace medic::decide
