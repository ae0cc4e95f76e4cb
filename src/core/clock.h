#pragma once
// Time is injected (DESIGN.md §2): the decision engine and everything that schedules
// takes a Clock, so tests run with a FakeClock and every decision is reproducible.

#include <chrono>
#include <cstdint>

namespace medic::core {

/// Wall-clock time in whole epoch seconds (Hermes stores integer epoch seconds).
using EpochSeconds = std::int64_t;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual EpochSeconds now() const = 0;
};

class SystemClock final : public Clock {
 public:
  EpochSeconds now() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(EpochSeconds t) : t_(t) {}
  EpochSeconds now() const override { return t_; }
  void set(EpochSeconds t) { t_ = t; }
  void advance(EpochSeconds s) { t_ += s; }

 private:
  EpochSeconds t_;
};

}  // namespace medic::core
