// Lists (API.md "Conventions"): {"data": [...], "next": cursor|null}, ?size= (default 100,
// max 1000), ?after=<cursor>, ?tags=a,b (all of).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;

class AdminListsTest : public AdminSuiteTest {
 protected:
  struct Walk {
    std::vector<json> items;
    std::vector<size_t> page_sizes;
    bool ok = true;
  };

  // Follows `next` from `first_target` until it is null (bounded), checking each page's shape.
  Walk walk(const std::string& first_target, size_t max_pages = 200) {
    Walk w;
    std::string target = first_target;
    const char separator = first_target.find('?') == std::string::npos ? '?' : '&';
    for (size_t page = 0; page < max_pages; ++page) {
      Response r = admin().get(target);
      json body = r.json();
      if (r.status != 200 || !body.is_object() || !body.contains("data") ||
          !body["data"].is_array() || !body.contains("next") ||
          !(body["next"].is_null() || body["next"].is_string())) {
        ADD_FAILURE() << "GET " << target << " is not a list page:\n" << r;
        w.ok = false;
        return w;
      }
      w.page_sizes.push_back(body["data"].size());
      for (auto& item : body["data"]) w.items.push_back(item);
      if (body["next"].is_null()) return w;
      const std::string cursor = body["next"];
      if (cursor.empty()) {
        ADD_FAILURE() << "empty cursor from GET " << target;
        w.ok = false;
        return w;
      }
      target = first_target + separator + "after=" + cursor;
    }
    ADD_FAILURE() << "no end after " << max_pages << " pages of " << first_target;
    w.ok = false;
    return w;
  }

  static std::set<std::string> field(const std::vector<json>& items, const char* name) {
    std::set<std::string> out;
    for (const auto& i : items) out.insert(i.value(name, ""));
    return out;
  }
};

TEST_F(AdminListsTest, PagesBySizeUntilNextIsNull) {
  const std::string tag = uniqueName("page");
  std::set<std::string> names;
  for (int i = 0; i < 7; ++i) {
    json body = serviceBody(uniqueName("paged"));
    body["tags"] = {tag};
    json created = mustCreate("/services", body);
    ASSERT_TRUE(created.is_object());
    names.insert(created["name"]);
  }
  Walk w = walk("/services?tags=" + tag + "&size=3");
  ASSERT_TRUE(w.ok);
  EXPECT_EQ(w.page_sizes, (std::vector<size_t>{3, 3, 1}));
  EXPECT_EQ(w.items.size(), 7u) << "no item twice, none left out";
  EXPECT_EQ(field(w.items, "name"), names);

  // A page size equal to the count: one full page. Whether an empty page follows is the
  // server's choice, but nothing more may come.
  Walk exact = walk("/services?tags=" + tag + "&size=7");
  ASSERT_TRUE(exact.ok);
  EXPECT_EQ(exact.items.size(), 7u);
  EXPECT_EQ(exact.page_sizes[0], 7u);

  Walk one = walk("/services?tags=" + tag + "&size=1");
  ASSERT_TRUE(one.ok);
  EXPECT_EQ(field(one.items, "name"), names);
  EXPECT_GE(one.page_sizes.size(), 7u);
}

TEST_F(AdminListsTest, WholeCollectionWalksWithoutDuplicates) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(mustCreate("/services", serviceBody(uniqueName("all"))).is_object());
  Walk all = walk("/services?size=2");
  ASSERT_TRUE(all.ok);
  std::set<std::string> ids = field(all.items, "id");
  EXPECT_EQ(ids.size(), all.items.size()) << "an id appeared on two pages";
  Walk big = walk("/services?size=1000");
  ASSERT_TRUE(big.ok);
  EXPECT_EQ(field(big.items, "id"), ids);
}

TEST_F(AdminListsTest, DefaultPageSizeIs100) {
  const std::string tag = uniqueName("hundred");
  for (int i = 0; i < 101; ++i) {
    json body = consumerBody(uniqueName("many"));
    body["tags"] = {tag};
    ASSERT_TRUE(mustCreate("/consumers", body).is_object());
  }
  Response first = admin().get("/consumers?tags=" + tag);
  ASSERT_EQ(first.status, 200) << first;
  json page = first.json();
  EXPECT_EQ(page["data"].size(), 100u);
  ASSERT_TRUE(page["next"].is_string()) << "101 items do not fit one default page";
  Walk rest = walk("/consumers?tags=" + tag);
  ASSERT_TRUE(rest.ok);
  EXPECT_EQ(rest.page_sizes, (std::vector<size_t>{100, 1}));
}

TEST_F(AdminListsTest, TagsFilterMeansAllOf) {
  const std::string t1 = uniqueName("t1"), t2 = uniqueName("t2"), t3 = uniqueName("t3");
  auto make = [&](const std::string& label, std::vector<std::string> tags) {
    json body = policyBody(uniqueName(label));
    body["tags"] = tags;
    json created = mustCreate("/rate-limit-policies", body);
    return created.is_object() ? created["name"].get<std::string>() : "";
  };
  const std::string a = make("a", {t1});
  const std::string b = make("b", {t1, t2});
  const std::string c = make("c", {t2});
  const std::string d = make("d", {t3, t2, t1});

  auto names = [&](const std::string& query) {
    Walk w = walk("/rate-limit-policies?tags=" + query);
    return field(w.items, "name");
  };
  EXPECT_EQ(names(t1), (std::set<std::string>{a, b, d}));
  EXPECT_EQ(names(t2), (std::set<std::string>{b, c, d}));
  EXPECT_EQ(names(t1 + "," + t2), (std::set<std::string>{b, d}));
  EXPECT_EQ(names(t2 + "," + t1), (std::set<std::string>{b, d}));
  EXPECT_EQ(names(t1 + "," + t2 + "," + t3), (std::set<std::string>{d}));
  EXPECT_EQ(names(t1 + ",no-such-tag"), (std::set<std::string>{}));

  // Filter and pagination together.
  Walk paged = walk("/rate-limit-policies?tags=" + t1 + "&size=1");
  ASSERT_TRUE(paged.ok);
  EXPECT_EQ(field(paged.items, "name"), (std::set<std::string>{a, b, d}));
}

TEST_F(AdminListsTest, EveryCollectionIsAListEnvelope) {
  for (const char* target :
       {"/services", "/routes", "/consumers", "/rate-limit-policies", "/config/history"}) {
    Walk w = walk(std::string(target) + "?size=1000");
    EXPECT_TRUE(w.ok) << target;
  }
}

TEST_F(AdminListsTest, RoutesAndKeysPaginate) {
  const std::string svc = uniqueName("lr-svc");
  ASSERT_TRUE(mustCreate("/services", serviceBody(svc)).is_object());
  const std::string tag = uniqueName("lr");
  std::set<std::string> routes;
  for (int i = 0; i < 4; ++i) {
    json body = routeBody(uniqueName("lr"), svc);
    body["tags"] = {tag};
    json r = mustCreate("/routes", body);
    ASSERT_TRUE(r.is_object());
    routes.insert(r["id"]);
  }
  Walk rw = walk("/routes?tags=" + tag + "&size=3");
  ASSERT_TRUE(rw.ok);
  EXPECT_EQ(rw.page_sizes, (std::vector<size_t>{3, 1}));
  EXPECT_EQ(field(rw.items, "id"), routes);

  const std::string user = uniqueName("lk");
  ASSERT_TRUE(mustCreate("/consumers", consumerBody(user)).is_object());
  std::set<std::string> keys;
  for (int i = 0; i < 5; ++i) {
    json k = mustCreate("/consumers/" + user + "/keys", json::object());
    ASSERT_TRUE(k.is_object());
    keys.insert(k["id"]);
  }
  Walk kw = walk("/consumers/" + user + "/keys?size=2");
  ASSERT_TRUE(kw.ok);
  EXPECT_EQ(kw.page_sizes, (std::vector<size_t>{2, 2, 1}));
  EXPECT_EQ(field(kw.items, "id"), keys);
}

TEST_F(AdminListsTest, HistoryPagesNewestFirst) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(mustCreate("/services", serviceBody(uniqueName("h"))).is_object());
  const int64_t v = storedVersion();
  Walk w = walk("/config/history?size=2", 1000);
  ASSERT_TRUE(w.ok);
  ASSERT_EQ(w.items.size(), static_cast<size_t>(v)) << "one entry per version";
  for (size_t i = 0; i < w.items.size(); ++i) {
    EXPECT_EQ(w.items[i]["version"], v - static_cast<int64_t>(i));
  }
}

TEST_F(AdminListsTest, BadSizeIs400) {
  for (const char* size : {"0", "-1", "abc", "1001"}) {
    Response r = admin().get(std::string("/services?size=") + size);
    EXPECT_TRUE(isProblem(r, 400)) << "size=" << size;
    EXPECT_TRUE(namesField(r, "size")) << "size=" << size;
  }
  EXPECT_EQ(admin().get("/services?size=1000").status, 200);
}

}  // namespace
}  // namespace turnpike::test_support
