#include "rules/policy.h"

#include <yaml-cpp/yaml.h>

namespace medic::rules {
namespace {

constexpr std::pair<Action, std::string_view> kActions[] = {
    {Action::RetryAt, "retry_at"},     {Action::Retry, "retry"},   {Action::Resume, "resume"},
    {Action::Complete, "complete"},    {Action::Block, "block"},   {Action::RepairAuth, "repair_auth"},
    {Action::RepairEnv, "repair_env"}, {Action::Ignore, "ignore"},
};

}  // namespace

std::string_view to_string(Action a) {
  for (const auto& [action, name] : kActions) {
    if (action == a) return name;
  }
  return "unknown";
}

std::optional<Action> parse_action(std::string_view name) {
  for (const auto& [action, n] : kActions) {
    if (n == name) return action;
  }
  return std::nullopt;
}

const ClassPolicy& Policy::for_class(FailureClass c) const {
  auto it = classes.find(c);
  return it != classes.end() ? it->second : unexplained;
}

Policy Policy::defaults() {
  Policy p;
  using F = FailureClass;
  const Backoff transport{30, 2, 900, 0.1};
  p.classes[F::RateLimit] = {Action::RetryAt, 3, transport};
  p.classes[F::QuotaExhausted] = {Action::Block, 1, transport};
  p.classes[F::Overloaded] = {Action::Retry, 2, transport};
  p.classes[F::Timeout] = {Action::Retry, 2, transport};
  p.classes[F::Connection] = {Action::Retry, 2, transport};
  p.classes[F::AuthMissing] = {Action::RepairAuth, 1, transport};
  p.classes[F::AuthExpired] = {Action::RepairAuth, 1, transport};
  p.classes[F::AuthRegion] = {Action::Block, 1, transport};
  p.classes[F::AuthAuxiliary] = {Action::Ignore, 1, transport};
  p.classes[F::ContextLength] = {Action::Block, 1, transport};
  p.classes[F::EnvMissing] = {Action::RepairEnv, 2, transport};
  p.classes[F::ProtocolViolation] = {Action::Block, 1, transport};
  return p;
}

namespace {

class PolicyReader {
 public:
  PolicyReader(const std::string& path, Diagnostics& diags) : path_(path), diags_(diags) {}

  void add(const YAML::Node& n, std::string message) {
    const auto m = n.Mark();
    diags_.push_back(make_diagnostic(SourceLocation{path_, m.line >= 0 ? m.line + 1 : 0, m.column + 1},
                                     DiagnosticCode::BadValue, std::move(message)));
  }

  template <class T>
  bool number(const YAML::Node& n, const char* what, T& out, T min, T max) {
    try {
      const T v = n.as<T>();
      if (v < min || v > max) throw YAML::Exception(n.Mark(), "range");
      out = v;
      return true;
    } catch (const YAML::Exception&) {
      add(n, std::string(what) + " must be a number from " + std::to_string(min) + " to " + std::to_string(max));
      return false;
    }
  }

  void read_class(const YAML::Node& n, ClassPolicy& cp, const std::string& name) {
    if (!n.IsMap()) {
      add(n, "policy." + name + " must be a map");
      return;
    }
    for (const auto& kv : n) {
      const std::string key = kv.first.Scalar();
      if (key == "action") {
        if (auto a = parse_action(kv.second.Scalar())) {
          cp.action = *a;
        } else {
          add(kv.second, "unknown action '" + kv.second.Scalar() + "'");
        }
      } else if (key == "max_attempts") {
        number(kv.second, "max_attempts", cp.max_attempts, 0, 100);
      } else if (key == "backoff") {
        for (const auto& b : kv.second) {
          const std::string bk = b.first.Scalar();
          if (bk == "base_s")
            number(b.second, "backoff.base_s", cp.backoff.base_s, 0.0, 86400.0);
          else if (bk == "factor")
            number(b.second, "backoff.factor", cp.backoff.factor, 1.0, 10.0);
          else if (bk == "cap_s")
            number(b.second, "backoff.cap_s", cp.backoff.cap_s, 0.0, 604800.0);
          else if (bk == "jitter")
            number(b.second, "backoff.jitter", cp.backoff.jitter, 0.0, 1.0);
          else
            add(b.first, "unknown backoff key '" + bk + "' (base_s, factor, cap_s, jitter)");
        }
      } else {
        add(kv.first, "unknown key '" + key + "' in policy." + name + " (action, max_attempts, backoff)");
      }
    }
  }

 private:
  const std::string& path_;
  Diagnostics& diags_;
};

}  // namespace

Policy read_policy(std::string_view yaml_text, const std::string& path, Diagnostics& diags) {
  Policy p = Policy::defaults();
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    diags.push_back(make_diagnostic(SourceLocation{path, e.mark.line + 1, e.mark.column + 1}, DiagnosticCode::YamlParse,
                                    "YAML error: " + e.msg));
    return p;
  }
  if (!root || root.IsNull()) return p;
  PolicyReader r(path, diags);
  if (!root.IsMap()) {
    r.add(root, "policy must be a map");
    return p;
  }
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (auto c = parse_failure_class(key)) {
      r.read_class(kv.second, p.classes[*c], key);
    } else if (key == "unexplained") {
      r.read_class(kv.second, p.unexplained, key);
    } else if (key == "rate_limit_default_delay_s") {
      r.number(kv.second, key.c_str(), p.rate_limit_default_delay_s, 0.0, 604800.0);
    } else if (key == "attempt_window_s") {
      r.number(kv.second, key.c_str(), p.attempt_window_s, 1.0, 2592000.0);
    } else if (key == "rate_limit_window_factor") {
      r.number(kv.second, key.c_str(), p.rate_limit_window_factor, 1.0, 100.0);
    } else if (key == "context_length_model") {
      p.context_length_model = kv.second.Scalar();
    } else if (key == "fallback_providers") {
      if (!kv.second.IsMap()) {
        r.add(kv.second, "fallback_providers must map a provider to a list of providers");
        continue;
      }
      // Each entry: {provider: P, model: M}, or (the older form, still read) just "P".
      auto entry = [&](const YAML::Node& x, std::vector<Fallback>& chain) {
        if (x.IsScalar()) {
          chain.push_back(Fallback{x.Scalar(), ""});
        } else if (x.IsMap() && x["provider"] && x["provider"].IsScalar()) {
          Fallback f{x["provider"].Scalar(), ""};
          if (x["model"] && x["model"].IsScalar()) f.model = x["model"].Scalar();
          for (const auto& k : x) {
            if (k.first.Scalar() != "provider" && k.first.Scalar() != "model")
              r.add(k.first, "unknown fallback key '" + k.first.Scalar() + "' (provider, model)");
          }
          chain.push_back(f);
        } else {
          r.add(x, "a fallback is a provider name or {provider: P, model: M}");
        }
      };
      for (const auto& f : kv.second) {
        std::vector<Fallback> chain;
        if (f.second.IsSequence()) {
          for (const auto& x : f.second) entry(x, chain);
        } else if (f.second.IsScalar() || f.second.IsMap()) {
          entry(f.second, chain);
        } else {
          r.add(f.second, "fallback_providers." + f.first.Scalar() + " must be a list");
        }
        p.fallback_providers[f.first.Scalar()] = chain;
      }
    } else {
      r.add(kv.first, "unknown policy key '" + key + "'");
    }
  }
  return p;
}

}  // namespace medic::rules
