#pragma once
// Carries context fields (provider, model) from context-rule hits to the failure hits
// that follow them in the same source. A Stream owns one; a scan split into parallel
// segments runs one over the merged hits instead, in source order.

#include "match/hit.h"
#include "match/pattern_db.h"

namespace medic::match {

class ContextTracker {
 public:
  /// Context hit: remember its fields. Failure hit: add remembered fields it lacks.
  void apply(const PatternDb& db, Hit& hit);
  void clear() { fields_.clear(); }
  const Fields& fields() const { return fields_; }

 private:
  Fields fields_;
};

}  // namespace medic::match
