#include "publish/unix_socket_publisher.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <memory>
#include <string>
#include <vector>

#include "integration/process.h"
#include "support/run_loop.h"

namespace medic::publish {
namespace {

// A subscriber on the same loop: a real Unix socket client whose lines are collected.
struct TestClient {
  uv_pipe_t pipe{};
  uv_connect_t req{};
  std::string buf;
  bool connected = false;
  bool closed = false;

  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    for (std::size_t pos = 0, nl; (nl = buf.find('\n', pos)) != std::string::npos; pos = nl + 1)
      out.push_back(buf.substr(pos, nl - pos));
    return out;
  }
  void connect(uv_loop_t* loop, const std::string& path) {
    uv_pipe_init(loop, &pipe, 0);
    pipe.data = this;
    req.data = this;
    uv_pipe_connect(&req, &pipe, path.c_str(), [](uv_connect_t* r, int status) {
      auto* self = static_cast<TestClient*>(r->data);
      self->connected = status == 0;
      if (self->connected) self->start_reading();
    });
  }
  void start_reading() {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&pipe),
        [](uv_handle_t*, size_t n, uv_buf_t* b) {
          b->base = new char[n];
          b->len = n;
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* self = static_cast<TestClient*>(s->data);
          if (n > 0) self->buf.append(b->base, static_cast<std::size_t>(n));
          if (n < 0) self->closed = true;
          delete[] b->base;
        });
  }
  void send(const std::string& line) {
    auto* w = new uv_write_t{};
    auto* copy = new std::string(line + "\n");
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy->data(), static_cast<unsigned>(copy->size()));
    uv_write(w, reinterpret_cast<uv_stream_t*>(&pipe), &b, 1, [](uv_write_t* r, int) {
      delete static_cast<std::string*>(r->data);
      delete r;
    });
  }
  void close() {
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&pipe))) uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
  }
};

std::string field(const std::string& line, const char* key) {
  simdjson::dom::parser p;
  simdjson::dom::element doc;
  if (p.parse(line).get(doc) != simdjson::SUCCESS) return "<not json>";
  simdjson::dom::element v;
  if (doc[key].get(v) != simdjson::SUCCESS) return "";
  std::string_view s;
  if (v.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  std::uint64_t n = 0;
  if (v.get_uint64().get(n) == simdjson::SUCCESS) return std::to_string(n);
  return "?";
}

class PublisherTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(uv_loop_init(&loop_), 0); }
  void TearDown() override {
    for (auto& c : clients_) c->close();
    if (pub_) pub_->close();
    pub_.reset();
    loop::close_loop(&loop_);
  }
  void open(JournalOptions jo = {}, std::size_t queue = 4u << 20) {
    auto j = Journal::open(tmp_.path() + "/journal", jo);
    ASSERT_TRUE(j) << j.error().message;
    journal_ = std::make_unique<Journal>(std::move(*j));
    auto p = UnixSocketPublisher::create(&loop_, socket(), *journal_, PublisherOptions{queue, 0660}, [this] {
      return R"({"type":"hello","last_seq":)" + std::to_string(journal_->last_seq()) + "}";
    });
    ASSERT_TRUE(p) << p.error().message;
    pub_ = std::move(*p);
  }
  // Appends a decision to the journal and publishes it, as the daemon does.
  void decide(const std::string& task, std::size_t pad = 0) {
    auto line = journal_->append([&](std::uint64_t seq) {
      return R"({"type":"decision","seq":)" + std::to_string(seq) + R"(,"id":"default/)" + task +
             R"(/1","action":"retry","reason":")" + std::string(pad, 'x') + "\"}";
    });
    ASSERT_TRUE(line);
    pub_->publish(*line);
  }
  TestClient& connect() {
    clients_.push_back(std::make_unique<TestClient>());
    clients_.back()->connect(&loop_, socket());
    return *clients_.back();
  }
  bool wait_lines(TestClient& c, std::size_t n) {
    return testing::run_until(&loop_, [&] { return c.lines().size() >= n; });
  }
  std::string socket() const { return tmp_.path() + "/s.sock"; }

  testing::TempDir tmp_;
  uv_loop_t loop_{};
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<UnixSocketPublisher> pub_;
  std::vector<std::unique_ptr<TestClient>> clients_;
};

TEST_F(PublisherTest, AClientGetsAHelloThenWhatIsPublishedAfterIt) {
  open();
  TestClient& c = connect();
  ASSERT_TRUE(wait_lines(c, 1));
  EXPECT_EQ(field(c.lines()[0], "type"), "hello");
  // A client that sends no subscribe goes live after the grace, with what came meanwhile.
  decide("t_a");
  ASSERT_TRUE(wait_lines(c, 2)) << c.buf;
  EXPECT_EQ(field(c.lines()[1], "id"), "default/t_a/1");
  EXPECT_EQ(field(c.lines()[1], "seq"), "1");
  decide("t_b");
  ASSERT_TRUE(wait_lines(c, 3)) << c.buf;
  EXPECT_EQ(field(c.lines()[2], "seq"), "2");
}

TEST_F(PublisherTest, SubscribeSinceReplaysTheJournalInOrderThenGoesLive) {
  open();
  for (const char* t : {"t_1", "t_2", "t_3", "t_4", "t_5"}) decide(t);
  TestClient& c = connect();
  ASSERT_TRUE(wait_lines(c, 1));
  c.send(R"({"op":"subscribe","since":2})");
  ASSERT_TRUE(wait_lines(c, 4)) << c.buf;
  decide("t_6");
  ASSERT_TRUE(wait_lines(c, 5)) << c.buf;
  const auto l = c.lines();
  std::vector<std::string> seqs;
  for (std::size_t i = 1; i < l.size(); ++i) seqs.push_back(field(l[i], "seq"));
  EXPECT_EQ(seqs, (std::vector<std::string>{"3", "4", "5", "6"})) << c.buf;
}

TEST_F(PublisherTest, ABadRequestGetsAnErrorLineAndTheClientStays) {
  open();
  TestClient& c = connect();
  ASSERT_TRUE(wait_lines(c, 1));
  c.send(R"({"op":"subscribe","since":"yesterday"})");
  ASSERT_TRUE(wait_lines(c, 2)) << c.buf;
  EXPECT_EQ(field(c.lines()[1], "type"), "error");
  EXPECT_NE(field(c.lines()[1], "reason").find("since"), std::string::npos) << c.lines()[1];
  EXPECT_EQ(pub_->bad_requests(), 1u);
  EXPECT_EQ(pub_->clients(), 1u);
}

TEST_F(PublisherTest, ASinceOlderThanTheJournalKeepsNamesTheOldestSeqKept) {
  // Segments of ~1 KB, 2 KB kept: the first lines are gone after 20 decisions of ~200 B.
  open(JournalOptions{1000, 2000, 30 * 86400});
  for (int i = 0; i < 20; ++i) decide("t_" + std::to_string(i), 150);
  ASSERT_GT(journal_->first_seq(), 1u);
  TestClient& c = connect();
  ASSERT_TRUE(wait_lines(c, 1));
  c.send(R"({"op":"subscribe","since":0})");
  ASSERT_TRUE(wait_lines(c, 2)) << c.buf;
  EXPECT_EQ(field(c.lines()[1], "type"), "error");
  EXPECT_NE(field(c.lines()[1], "reason").find("the oldest seq kept is " + std::to_string(journal_->first_seq())),
            std::string::npos)
      << c.lines()[1];
}

// A client that reads nothing: once the bytes queued for it pass the bound, it is cut off
// (and counted) instead of growing the daemon's memory; a reading client is unaffected.
class CutOffTest : public PublisherTest {
 protected:
  // Two live clients; `stuck` stops reading; 4 MiB of decisions in 4 KiB lines follow.
  void flood() {
    open({}, 64 * 1024);
    stuck_ = &connect();
    reader_ = &connect();
    ASSERT_TRUE(
        testing::run_until(&loop_, [&] { return stuck_->lines().size() >= 1 && reader_->lines().size() >= 1; }));
    // Both live (subscribed), as a first decision shows; then one stops reading.
    stuck_->send(R"({"op":"subscribe","since":0})");
    reader_->send(R"({"op":"subscribe","since":0})");
    decide("t_first");
    ASSERT_TRUE(
        testing::run_until(&loop_, [&] { return stuck_->lines().size() >= 2 && reader_->lines().size() >= 2; }));
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&stuck_->pipe));
    for (int i = 0; i < 1024; ++i) {
      decide("t_" + std::to_string(i), 4096);
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
    ASSERT_TRUE(testing::run_until(&loop_, [&] { return pub_->cut_off() == 1; })) << pub_->cut_off();
  }
  TestClient* stuck_ = nullptr;
  TestClient* reader_ = nullptr;
};

TEST_F(CutOffTest, AClientThatDoesNotReadIsCutOffWithItsReasonAsTheLastLine) {
  flood();
  // Reading again at once, it gets what was queued, then the reason, then the end.
  stuck_->start_reading();
  ASSERT_TRUE(testing::run_until(&loop_, [&] { return stuck_->closed; }));
  const auto l = stuck_->lines();
  ASSERT_FALSE(l.empty());
  EXPECT_EQ(field(l.back(), "type"), "error") << l.back().substr(0, 200);
  EXPECT_NE(field(l.back(), "reason").find("too slow"), std::string::npos) << l.back().substr(0, 200);
  // The other client got every decision.
  ASSERT_TRUE(wait_lines(*reader_, 2 + 1024)) << reader_->lines().size();
  EXPECT_EQ(field(reader_->lines().back(), "seq"), "1025");
  EXPECT_TRUE(testing::run_until(&loop_, [&] { return pub_->clients() == 1; })) << pub_->clients();
}

TEST_F(CutOffTest, ACutOffClientThatStillReadsNothingIsClosedAfterTheDrain) {
  flood();
  // It never reads again: its queue and descriptor go after the drain (2 s), not never.
  EXPECT_TRUE(testing::run_until(&loop_, [&] { return pub_->clients() == 1; })) << pub_->clients();
  stuck_->start_reading();
  EXPECT_TRUE(testing::run_until(&loop_, [&] { return stuck_->closed; })) << "the connection was ended";
}

}  // namespace
}  // namespace medic::publish
