#include "match/context_tracker.h"

#include <algorithm>

namespace medic::match {

void ContextTracker::apply(const PatternDb& db, Hit& hit) {
  if (db.rule(hit.rule).is_context()) {
    for (const Field& f : hit.fields) {
      auto it = std::find_if(fields_.begin(), fields_.end(), [&](const Field& c) { return c.name == f.name; });
      if (it != fields_.end()) {
        it->value = f.value;
      } else {
        fields_.push_back(f);
      }
    }
    return;
  }
  for (const Field& c : fields_) {
    if (!find_field(hit.fields, c.name)) hit.fields.push_back(c);
  }
}

}  // namespace medic::match
