#include "core/schema.hpp"

// core/rapidjson.hpp first: it makes RapidJSON's assertions throw.
#include "core/rapidjson.hpp"

#include <rapidjson/internal/regex.h>
#include <rapidjson/pointer.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

#include "core/errors.hpp"
#include "core/json.hpp"

namespace flaskpp::core::schema_detail {

// UTF-8 under a name of our own. Compiled schemas use values of this encoding so that the
// specialisation of RapidJSON's regex below applies to them, and to nothing else in the process.
struct SchemaEncoding : rapidjson::UTF8<char> {};

}  // namespace flaskpp::core::schema_detail

RAPIDJSON_NAMESPACE_BEGIN
namespace internal {

// RapidJSON 1.1.0's GenericRegex::Search keeps its match state in mutable members of the compiled
// pattern (later releases moved it into a separate GenericRegexSearch), so two threads matching
// one pattern at once corrupt each other. The compiled schema is shared by every request thread,
// hence this stand-in for the type internal::Schema instantiates: the same engine, one lock per
// pattern, held for one linear-time match. (std::regex, RapidJSON's other option, is thread-safe
// but recurses once per input character in libstdc++ and overflows the stack on long strings.)
template <>
class GenericRegex<flaskpp::core::schema_detail::SchemaEncoding, CrtAllocator> {
 public:
  typedef char Ch;

  explicit GenericRegex(const Ch* source, CrtAllocator* allocator = 0) : regex_(source, allocator) {}

  bool IsValid() const { return regex_.IsValid(); }

  bool Search(const Ch* s) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return regex_.Search(s);
  }

 private:
  GenericRegex<UTF8<char>, CrtAllocator> regex_;
  mutable std::mutex mutex_;
};

}  // namespace internal
RAPIDJSON_NAMESPACE_END

#include <rapidjson/schema.h>

namespace flaskpp::core {

namespace schema_detail {

using SValue = rapidjson::GenericValue<SchemaEncoding>;
using SDocument = rapidjson::GenericDocument<SchemaEncoding>;
using SPointer = rapidjson::GenericPointer<SValue>;
using SchemaDoc = rapidjson::GenericSchemaDocument<SValue>;
using SchemaType = SchemaDoc::SchemaType;
using SStringBuffer = rapidjson::GenericStringBuffer<SchemaEncoding>;

// The work budget of the validate() call running on this thread, counted by WorkMeter, and the
// nesting depth of the event being validated, kept by Feeder.
thread_local std::size_t t_work = 0;
thread_local std::size_t t_budget = std::numeric_limits<std::size_t>::max();
thread_local std::size_t t_depth = 0;

// Work is counted in units of roughly a nanosecond (measured on x86-64, -O2): an event handled by
// a validator, plus a step for each schema open on its stack (as deep as the event at most), and
// an allocation, which is how RapidJSON creates sub-validators and their state.
constexpr std::size_t kEventWork = 20;
constexpr std::size_t kAllocationWork = 300;

// The output handler of every validator: RapidJSON calls it once per event each (sub-)validator
// accepts. Past the budget it answers false, which stops the validators. Stateless (the counters
// are thread_local) because RapidJSON gives all sub-validators one shared static instance.
struct WorkMeter : rapidjson::BaseReaderHandler<SchemaEncoding, WorkMeter> {
  bool Default() {
    t_work += kEventWork + t_depth;
    return t_work <= t_budget;
  }
};

// The validators' state allocator: malloc, metered.
struct MeteredAllocator : rapidjson::CrtAllocator {
  void* Malloc(std::size_t size) {
    t_work += kAllocationWork;
    return CrtAllocator::Malloc(size);
  }
  void* Realloc(void* p, std::size_t old_size, std::size_t new_size) {
    t_work += kAllocationWork;
    return CrtAllocator::Realloc(p, old_size, new_size);
  }
};

using Validator = rapidjson::GenericSchemaValidator<SchemaDoc, WorkMeter, MeteredAllocator>;

// Hands a value's events to a validator and keeps t_depth.
class Feeder {
 public:
  explicit Feeder(Validator& v) : v_(v) { t_depth = 0; }
  bool Null() { return v_.Null(); }
  bool Bool(bool b) { return v_.Bool(b); }
  bool Int(int i) { return v_.Int(i); }
  bool Uint(unsigned u) { return v_.Uint(u); }
  bool Int64(std::int64_t i) { return v_.Int64(i); }
  bool Uint64(std::uint64_t u) { return v_.Uint64(u); }
  bool Double(double d) { return v_.Double(d); }
  bool String(const char* s, rapidjson::SizeType n, bool copy) { return v_.String(s, n, copy); }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return v_.Key(s, n, copy); }
  bool StartObject() {
    ++t_depth;
    return v_.StartObject();
  }
  bool EndObject(rapidjson::SizeType n) {
    --t_depth;
    return v_.EndObject(n);
  }
  bool StartArray() {
    ++t_depth;
    return v_.StartArray();
  }
  bool EndArray(rapidjson::SizeType n) {
    --t_depth;
    return v_.EndArray(n);
  }

 private:
  Validator& v_;
};

// Sets this thread's budget for one validate() call and restores it afterwards.
class BudgetScope {
 public:
  explicit BudgetScope(std::size_t budget) : saved_work_(t_work), saved_budget_(t_budget) {
    t_work = 0;
    t_budget = budget;
  }
  ~BudgetScope() {
    t_work = saved_work_;
    t_budget = saved_budget_;
  }
  BudgetScope(const BudgetScope&) = delete;
  BudgetScope& operator=(const BudgetScope&) = delete;

  static bool exhausted() { return t_work > t_budget; }
  static void charge(std::size_t units) { t_work = units > t_budget ? t_budget + 1 : t_work + units; }

 private:
  std::size_t saved_work_;
  std::size_t saved_budget_;
};

// The member of the compiled document holding the nodes' keyword checks (and copies of nodes
// RapidJSON cannot address in place).
constexpr const char* kInternalKey = "$flaskpp-internal";

// Draft-04 validation keywords, as RapidJSON 1.1.0 implements them.
const std::set<std::string, std::less<>>& validation_keywords() {
  static const std::set<std::string, std::less<>> k = {
      "type",          "enum",           "allOf",          "anyOf",         "oneOf",
      "not",           "properties",     "patternProperties", "additionalProperties", "minProperties",
      "maxProperties", "dependencies",   "required",       "items",         "additionalItems",
      "minItems",      "maxItems",       "uniqueItems",    "minLength",     "maxLength",
      "pattern",       "minimum",        "maximum",        "exclusiveMinimum", "exclusiveMaximum",
      "multipleOf"};
  return k;
}

// Keywords that change what is valid in later drafts (or OpenAPI) and that RapidJSON 1.1.0 would
// ignore without a word, with a hint for each.
const std::map<std::string, std::string, std::less<>>& unsupported_keywords() {
  static const std::map<std::string, std::string, std::less<>> k = {
      {"const", "write \"enum\": [value]"},
      {"contains", ""},
      {"propertyNames", ""},
      {"if", ""},
      {"then", ""},
      {"else", ""},
      {"prefixItems", "write \"items\": [schemas...]"},
      {"unevaluatedProperties", ""},
      {"unevaluatedItems", ""},
      {"dependentRequired", "write \"dependencies\""},
      {"dependentSchemas", "write \"dependencies\""},
      {"minContains", ""},
      {"maxContains", ""},
      {"$dynamicRef", ""},
      {"$recursiveRef", ""},
      {"nullable", "add \"null\" to \"type\", e.g. \"type\": [\"string\", \"null\"]"},
  };
  return k;
}

std::string_view view(const SValue& v) { return {v.GetString(), v.GetStringLength()}; }
std::string_view view(const rapidjson::Value& v) { return {v.GetString(), v.GetStringLength()}; }

// One reference token of a JSON Pointer (RFC 6901 escaping).
void append_token(std::string& out, std::string_view name) {
  out += '/';
  for (char c : name) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
}

std::string pointer_string(const SPointer& p) {
  std::string out;
  for (std::size_t i = 0; i < p.GetTokenCount(); ++i) {
    const auto& t = p.GetTokens()[i];
    append_token(out, std::string_view(t.name, t.length));
  }
  return out;
}

std::string uri_fragment(const SPointer& p) {
  SStringBuffer sb;
  p.StringifyUriFragment(sb);
  return std::string(sb.GetString(), sb.GetSize());
}

template <typename V>
std::string to_json(const V& v) {
  rapidjson::StringBuffer sb;
  rapidjson::Writer<rapidjson::StringBuffer> w(sb);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize());
}

std::string json_quoted(std::string_view s) {
  SValue v(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  return to_json(v);
}

const SValue* member(const SValue& object, std::string_view name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(SValue(rapidjson::StringRef(name.data(), name.size())));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

const rapidjson::Value* member(const rapidjson::Value& object, std::string_view name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(rapidjson::Value(rapidjson::StringRef(name.data(), name.size())));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

// What RapidJSON 1.1.0's regex engine, given a pattern it accepts, would crash or hang on while
// matching (found by the schema fuzzer). Its Thompson NFA adds states recursively and marks only
// character states as visited, so:
//   - a repeated group that can match the empty string, "(a*)*", loops without end (a stack
//     overflow on the first match);
//   - one input position reached by several empty paths, "(a?|b?)(c?|d?)...", is explored once per
//     path, exponentially;
//   - a long chain of quantifiers or repetition copies, "a++++..." or "a{1,100000}", recurses once
//     per state.
// ECMA-262, whose syntax JSON Schema patterns follow, refuses a quantifier after a quantifier
// anyway ("a++"; "a+?" is lazy there, greedy-optional here). Returns why the pattern is refused, or
// "" when it is safe. Walks RapidJSON's grammar: alternation, groups, . [class] \escape, ^ $
// anywhere (they only set anchors), ? * + {n} {n,} {n,m}; a quantifier with nothing before it in
// its group or alternative is refused (RapidJSON would apply it to the atom before the group).
constexpr std::size_t kMaxPatternStates = 2000;

struct PatternShape {
  bool nullable = true;
  std::size_t states = 0;
};

class PatternCheck {
 public:
  explicit PatternCheck(std::string_view p) : p_(p) {}
  std::string run() {
    PatternShape all = alternation();
    if (error_.empty() && all.states > kMaxPatternStates) {
      error_ = "it expands to more than " + std::to_string(kMaxPatternStates) +
               " states (repetition counts multiply), which RapidJSON matches recursively";
    }
    return error_;
  }

 private:
  PatternShape alternation() {
    PatternShape out{false, 0};
    int nullable_branches = 0;
    for (;;) {
      PatternShape b = sequence();
      out.states = add(out.states, b.states + 1);
      if (b.nullable) ++nullable_branches;
      if (i_ >= p_.size() || p_[i_] != '|') break;
      ++i_;
    }
    out.nullable = nullable_branches > 0;
    if (nullable_branches > 1 && error_.empty()) {
      error_ = "more than one alternative of a group can match the empty string";
    }
    return out;
  }

  PatternShape sequence() {
    PatternShape out{true, 0};
    while (i_ < p_.size() && p_[i_] != '|' && p_[i_] != ')') {
      char c = p_[i_];
      if (c == '^' || c == '$') {
        ++i_;
        continue;
      }
      if (c == '?' || c == '*' || c == '+' || c == '{') {
        // Nothing of this sequence to repeat: RapidJSON applies it to whatever its operand stack
        // holds, the atom before the group or the alternative before the "|" ("i({999999999" is
        // i{999999999}: found by the schema fuzzer, out of memory). ECMA-262 refuses it too.
        if (!error_.empty()) return out;
        if (c == '?' && i_ > 0 && p_[i_ - 1] == '(') {
          error_ = "(?:...), (?=...) and (?!...) groups are not supported by RapidJSON's regular expressions";
        } else {
          error_ = "a quantifier has nothing to repeat (at the start of the pattern, a group or an alternative)";
        }
        return out;
      }
      PatternShape a = atom();
      int quantifiers = 0;
      for (;;) {
        // RapidJSON's ^ and $ only set a flag, wherever they stand: a quantifier after them still
        // applies to the atom before them ("a?^*" is (a?)*; found by review).
        while (i_ < p_.size() && (p_[i_] == '^' || p_[i_] == '$')) ++i_;
        if (!(i_ < p_.size() && (p_[i_] == '?' || p_[i_] == '*' || p_[i_] == '+' || p_[i_] == '{'))) break;
        if (++quantifiers > 1 && error_.empty()) {
          error_ = "a quantifier follows another (write one; lazy quantifiers such as +? are not supported)";
        }
        if (a.nullable && error_.empty()) {
          error_ = "a quantifier applies to something that can match the empty string";
        }
        a = quantified(a);
      }
      out.nullable = out.nullable && a.nullable;
      out.states = add(out.states, a.states);
    }
    return out;
  }

  PatternShape atom() {
    char c = p_[i_++];
    if (c == '(') {
      PatternShape g = alternation();
      if (i_ < p_.size() && p_[i_] == ')') ++i_;
      return g;
    }
    if (c == '[') {
      if (i_ < p_.size() && p_[i_] == '^') ++i_;
      while (i_ < p_.size() && p_[i_] != ']') i_ += p_[i_] == '\\' ? 2 : 1;
      ++i_;
      return {false, 1};
    }
    if (c == '\\') {
      ++i_;
      return {false, 1};
    }
    while (i_ < p_.size() && (static_cast<unsigned char>(p_[i_]) & 0xC0) == 0x80) ++i_;  // one code point
    return {false, 1};
  }

  PatternShape quantified(PatternShape a) {
    char q = p_[i_++];
    if (q == '?' || q == '*') return {true, add(a.states, 1)};
    if (q == '+') return {a.nullable, add(a.states, 1)};
    std::size_t n = number(), m = n;
    bool unbounded = false;
    if (i_ < p_.size() && p_[i_] == ',') {
      ++i_;
      if (i_ < p_.size() && p_[i_] == '}') unbounded = true;
      else m = number();
    }
    if (i_ < p_.size() && p_[i_] == '}') ++i_;
    // RapidJSON copies the atom n times, then m - n optional copies (each with a split state).
    std::size_t copies = unbounded ? n + 1 : std::max<std::size_t>(m, 1);
    std::size_t splits = unbounded ? 1 : (m > n ? m - n : 0);
    return {n == 0 || a.nullable, add(add(mul(a.states, copies), splits), 1)};
  }

  std::size_t number() {
    std::size_t v = 0;
    while (i_ < p_.size() && p_[i_] >= '0' && p_[i_] <= '9') {
      v = std::min<std::size_t>(v * 10 + static_cast<std::size_t>(p_[i_] - '0'), 1u << 30);
      ++i_;
    }
    return v;
  }

  static std::size_t add(std::size_t a, std::size_t b) { return std::min<std::size_t>(a + b, 1u << 30); }
  static std::size_t mul(std::size_t a, std::size_t b) {
    return a != 0 && b > (std::size_t{1} << 30) / a ? std::size_t{1} << 30 : a * b;
  }

  std::string_view p_;
  std::size_t i_ = 0;
  std::string error_;
};

// RapidJSON 1.1.0's schema Hasher (enum, uniqueItems) casts every double to a 64-bit integer,
// which is undefined beyond int64/uint64 (found by the schema fuzzer): such numbers are refused in
// a schema's enum and make a body fail validation where hashing would happen.
template <typename V>
bool unhashable_number(const V& root) {
  std::vector<const V*> stack{&root};
  while (!stack.empty()) {
    const V* v = stack.back();
    stack.pop_back();
    if (v->IsDouble()) {
      double d = v->GetDouble();
      if (!(d >= -9223372036854775808.0 && d < 18446744073709551616.0)) return true;
    } else if (v->IsObject()) {
      for (const auto& m : v->GetObject()) stack.push_back(&m.value);
    } else if (v->IsArray()) {
      for (const auto& x : v->GetArray()) stack.push_back(&x);
    }
  }
  return false;
}

// The "$ref" of a schema object, or null.
const SValue* ref_of(const SValue& v) {
  const SValue* r = member(v, "$ref");
  return r && r->IsString() ? r : nullptr;
}

struct Node {
  enum class Extra { kAllowed, kForbidden, kSchema };
  struct Property {
    std::string name;
    const Node* child = nullptr;  // null: only named by "required"
    bool required = false;
  };

  const SchemaType* full = nullptr;  // everything the schema says
  // What the descent below does not check, one schema per keyword ("minimum" with
  // "exclusiveMinimum", ...), so that a value failing several keywords gets every message. A
  // "type" check comes first: when the value has the wrong type, the rest is noise.
  std::vector<const SchemaType*> checks;
  bool first_check_is_type = false;

  bool object_facet = false;
  std::vector<Property> properties;  // "properties" in document order, then required-only names
  std::set<std::string, std::less<>> names;
  bool extras_handled = false;  // false: patternProperties present, extras left to `checks`
  Extra extra = Extra::kAllowed;
  const Node* extra_schema = nullptr;

  bool array_facet = false;
  const Node* items = nullptr;        // "items": {schema}
  std::vector<const Node*> tuple;     // "items": [schemas]
  Extra extra_items = Extra::kAllowed;
  const Node* extra_items_schema = nullptr;

  std::vector<const Node*> all_of;
  // "dependencies" in schema form, (property, schema): the schema applies when the property is there.
  std::vector<std::pair<std::string, const Node*>> dependency_schemas;
};

}  // namespace schema_detail

using namespace schema_detail;

struct CompiledSchema::Impl {
  // Hands the main compiled document to the tiny documents whose only content is a remote-style
  // $ref into it: RapidJSON 1.1.0 offers no other public way to reach a compiled sub-schema.
  class Provider : public rapidjson::IGenericRemoteSchemaDocumentProvider<SchemaDoc> {
   public:
    const SchemaDoc* GetRemoteDocument(const char*, rapidjson::SizeType) override { return doc; }
    const SchemaDoc* doc = nullptr;
  };

  std::string where;
  rapidjson::Document original;  // as written; what document() returns
  // The original with boolean schemas written as objects and, under kInternalKey, the keyword
  // checks of the nodes (and copies of nodes RapidJSON cannot address in place).
  SDocument compiled;
  std::unique_ptr<SchemaDoc> main;
  Provider provider;
  std::vector<std::unique_ptr<SchemaDoc>> handles;
  std::deque<Node> nodes;
  const Node* root = nullptr;
  bool has_unique_items = false;
  bool has_enum = false;  // with uniqueItems: RapidJSON hashes values (see unhashable_number)
};

namespace {

class Loader {
 public:
  explicit Loader(CompiledSchema::Impl& impl) : impl_(impl), doc_(impl.compiled), alloc_(doc_.GetAllocator()) {}

  void run() {
    // The root, and every value behind a $ref, are checked as schemas.
    check_document(doc_, "");
    check_schema(doc_, "", true);
    for (std::size_t i = 0; i < refs_.size(); ++i) {  // grows while targets are checked
      auto [at, text] = refs_[i];
      resolve(text, at, nullptr);
    }
    std::map<const SValue*, bool> done;  // false: on the current path
    for (std::size_t i = 0; i < schemas_.size(); ++i) {
      auto [at, v] = schemas_[i];
      check_in_place_cycles(*v, at, done);
    }
    impl_.root = node_at(doc_, SPointer());
    check_before_compile(doc_, "");
    compile();
  }

 private:
  [[noreturn]] void fail(const std::string& at, const std::string& what) const {
    throw ConfigError("JSON schema " + impl_.where + ": at #" + at + ": " + what);
  }

  SValue& internal_array() { return doc_[kInternalKey]; }

  // --- checks: everything RapidJSON 1.1.0 would get silently wrong is refused here -----------

  void check_schema(SValue& v, const std::string& at, bool is_root = false) {
    if (!checked_.insert(at).second) return;
    if (v.IsBool()) {
      // Draft-06 boolean schemas, which 1.1.0 takes for "anything goes" either way.
      bool accept = v.GetBool();
      v.SetObject();
      if (!accept) v.AddMember("not", SValue(rapidjson::kObjectType), alloc_);
      return;
    }
    if (!v.IsObject()) fail(at, "a schema must be an object or a boolean, not " + type_name(v));
    schemas_.emplace_back(at, &v);
    if (const SValue* r = member(v, "$ref")) {
      if (!r->IsString()) fail(at, "\"$ref\" must be a string");
      refs_.emplace_back(at, std::string(view(*r)));
      for (auto& m : v.GetObject()) {
        std::string_view k = view(m.name);
        if (validation_keywords().count(k)) {
          fail(at, "\"" + std::string(k) + "\" beside \"$ref\" is ignored (draft-04); combine them with "
                   "\"allOf\": [{\"$ref\": ...}, {...}]");
        }
      }
    }
    for (auto& m : v.GetObject()) {
      std::string k(view(m.name));
      if (is_root && k == kInternalKey) continue;
      SValue& x = m.value;
      std::string here = at;
      append_token(here, k);
      if (auto u = unsupported_keywords().find(k); u != unsupported_keywords().end()) {
        fail(at, "\"" + k + "\" is not supported: RapidJSON 1.1.0 implements JSON Schema draft-04 and would ignore it" +
                     (u->second.empty() ? "" : "; " + u->second));
      }
      if (k == "type") {
        check_type(x, here);
      } else if (k == "enum") {
        if (!x.IsArray() || x.Empty()) fail(here, "\"enum\" must be a non-empty array");
        impl_.has_enum = true;
        if (unhashable_number(x)) {
          fail(here, "\"enum\" holds a number of magnitude 2^63 or more, which RapidJSON 1.1.0 cannot compare");
        }
      } else if (k == "properties" || k == "patternProperties" || k == "definitions" || k == "$defs") {
        if (!x.IsObject()) fail(here, "\"" + k + "\" must be an object");
        for (auto& p : x.GetObject()) {
          std::string child = here;
          append_token(child, view(p.name));
          if (k == "patternProperties") check_pattern(p.name, child);
          check_schema(p.value, child);
        }
      } else if (k == "dependencies") {
        if (!x.IsObject()) fail(here, "\"dependencies\" must be an object");
        for (auto& p : x.GetObject()) {
          std::string child = here;
          append_token(child, view(p.name));
          if (p.value.IsArray()) {
            for (auto& name : p.value.GetArray()) {
              if (!name.IsString()) fail(child, "a property dependency must list property names (strings)");
            }
          } else {
            check_schema(p.value, child);
          }
        }
      } else if (k == "required") {
        if (!x.IsArray()) fail(here, "\"required\" must be an array of property names");
        for (auto& name : x.GetArray()) {
          if (!name.IsString()) fail(here, "\"required\" must be an array of property names (strings)");
        }
      } else if (k == "additionalProperties" || k == "additionalItems") {
        if (!x.IsBool()) check_schema(x, here);  // a boolean here means what draft-04 says
      } else if (k == "items") {
        if (x.IsArray()) {
          for (rapidjson::SizeType i = 0; i < x.Size(); ++i) check_schema(x[i], here + "/" + std::to_string(i));
        } else {
          check_schema(x, here);
        }
      } else if (k == "allOf" || k == "anyOf" || k == "oneOf") {
        if (!x.IsArray() || x.Empty()) fail(here, "\"" + k + "\" must be a non-empty array of schemas");
        for (rapidjson::SizeType i = 0; i < x.Size(); ++i) check_schema(x[i], here + "/" + std::to_string(i));
      } else if (k == "not") {
        check_schema(x, here);
      } else if (k == "minProperties" || k == "maxProperties" || k == "minItems" || k == "maxItems" ||
                 k == "minLength" || k == "maxLength") {
        // 1.1.0 ignores anything but an integer that fits 32 bits.
        if (!x.IsUint64() || x.GetUint64() > std::numeric_limits<rapidjson::SizeType>::max()) {
          fail(here, "\"" + k + "\" must be an integer from 0 to " +
                         std::to_string(std::numeric_limits<rapidjson::SizeType>::max()));
        }
      } else if (k == "minimum" || k == "maximum") {
        if (!x.IsNumber()) fail(here, "\"" + k + "\" must be a number");
      } else if (k == "multipleOf") {
        if (!x.IsNumber() || !(x.GetDouble() > 0.0)) fail(here, "\"multipleOf\" must be a number greater than 0");
      } else if (k == "exclusiveMinimum" || k == "exclusiveMaximum") {
        if (!x.IsBool()) {
          fail(here, "\"" + k + "\" must be true or false (draft-04); for a number write \"" +
                         (k == "exclusiveMinimum" ? "minimum" : "maximum") + "\": N, \"" + k + "\": true");
        }
      } else if (k == "uniqueItems") {
        if (!x.IsBool()) fail(here, "\"uniqueItems\" must be true or false");
        if (x.GetBool()) impl_.has_unique_items = true;
      } else if (k == "pattern") {
        check_pattern(x, here);
      }
      // Anything else (title, description, default, examples, format, $schema, id, ...) is an
      // annotation or unknown, and ignored as JSON Schema says.
    }
    // RapidJSON 1.1.0 mishandles a key that matches a patternProperties pattern when
    // "additionalProperties" is false: it leaves the value's schema unset, so the value is checked
    // against the previous property's schema, or the validator's stack underflows. The schema
    // {"not": {}} means the same and takes the path that works.
    const SValue* patterns = member(v, "patternProperties");
    SValue* additional = const_cast<SValue*>(member(v, "additionalProperties"));
    if (patterns && !patterns->ObjectEmpty() && additional && additional->IsFalse()) {
      additional->SetObject();
      additional->AddMember("not", SValue(rapidjson::kObjectType), alloc_);
    }
  }

  void check_type(const SValue& x, const std::string& at) {
    static const std::set<std::string, std::less<>> kTypes = {"null",   "boolean", "object", "array",
                                                              "string", "number",  "integer"};
    auto ok = [](const SValue& t) { return t.IsString() && kTypes.count(view(t)); };
    bool good = ok(x);
    if (x.IsArray() && !x.Empty()) {
      good = true;
      for (const auto& t : x.GetArray()) good = good && ok(t);
    }
    if (!good) {
      fail(at, "\"type\" must be one of null, boolean, object, array, string, number, integer, or a non-empty "
               "array of them");
    }
  }

  void check_pattern(const SValue& x, const std::string& at) {
    if (!x.IsString()) fail(at, "\"pattern\" must be a string");
    std::string text(view(x));
    if (text.find('\0') != std::string::npos) fail(at, "a pattern must not contain NUL");
    // First, before RapidJSON's parser expands repetitions ("a{999999999}" would take gigabytes).
    if (std::string why = PatternCheck(text).run(); !why.empty()) {
      fail(at, "pattern " + json_quoted(text) + " is refused: " + why);
    }
    bool valid = false;
    try {
      valid = rapidjson::internal::GenericRegex<rapidjson::UTF8<>>(text.c_str()).IsValid();
    } catch (const std::logic_error&) {  // an assertion inside RapidJSON's parser
    }
    if (!valid) {
      fail(at, "pattern " + json_quoted(text) +
                   " is not supported by RapidJSON's regular expressions (no \\d, \\w, \\s, \\b, (?:...), "
                   "lookaround or backreferences; write [0-9], [A-Za-z0-9_], ...)");
    }
  }

  static std::string type_name(const SValue& v) {
    switch (v.GetType()) {
      case rapidjson::kNullType: return "null";
      case rapidjson::kFalseType:
      case rapidjson::kTrueType: return "a boolean";
      case rapidjson::kObjectType: return "an object";
      case rapidjson::kArrayType: return "an array";
      case rapidjson::kStringType: return "a string";
      case rapidjson::kNumberType: return "a number";
    }
    return "?";
  }

  // The schema a local $ref leads to, after following $refs that lead to $refs, and its
  // canonical pointer. Refuses what RapidJSON 1.1.0 would leave unresolved (it then accepts
  // anything there) and newly reached targets are checked as schemas.
  const SValue* resolve(const std::string& text, const std::string& at, SPointer* canonical_out) {
    std::string ref = text;
    std::set<const SValue*> seen;
    for (;;) {
      if (ref.empty() || ref[0] != '#') {
        fail(at, "$ref " + json_quoted(ref) + " is not supported: only references into the same file (\"#/...\") are");
      }
      SPointer p(ref.data(), ref.size());
      if (!p.IsValid()) {
        fail(at, "$ref " + json_quoted(ref) + " is not a JSON pointer fragment such as \"#/definitions/name\" "
                 "(characters outside A-Za-z0-9-._~ must be percent-encoded)");
      }
      const SValue* target = p.Get(doc_);
      if (!target) fail(at, "$ref " + json_quoted(ref) + " points at nothing");
      if (!seen.insert(target).second) {
        fail(at, "$ref " + json_quoted(text) + " is a cycle of $refs that never reaches a schema");
      }
      // Where RapidJSON 1.1.0 registers that value: member names as names, array positions as
      // indices. It finds the target only if the $ref parses to exactly that pointer.
      SPointer canonical;
      const SValue* cur = &doc_;
      for (std::size_t i = 0; i < p.GetTokenCount(); ++i) {
        const auto& t = p.GetTokens()[i];
        if (cur->IsObject()) {
          canonical = canonical.Append(t.name, t.length);
          cur = member(*cur, std::string_view(t.name, t.length));
        } else {
          canonical = canonical.Append(t.index);
          cur = &(*cur)[t.index];
        }
      }
      if (pointer_string(canonical).rfind(std::string("/") + kInternalKey, 0) == 0) {
        fail(at, "$ref " + json_quoted(ref) + " points into the reserved member \"" + kInternalKey + "\"");
      }
      if (const SValue* next = target->IsObject() ? ref_of(*target) : nullptr) {
        ref = std::string(view(*next));
        continue;
      }
      if (!(p == canonical)) {
        fail(at, "$ref " + json_quoted(ref) + " passes through a member whose name is a number, which RapidJSON 1.1.0 "
                 "cannot resolve; rename that member");
      }
      std::string target_at = pointer_string(canonical);
      if (!target->IsObject() && !target->IsBool()) {
        fail(at, "$ref " + json_quoted(ref) + " points at " + type_name(*target) + ", not a schema");
      }
      check_schema(const_cast<SValue&>(*target), target_at);  // a boolean becomes an object in place
      if (canonical_out) *canonical_out = canonical;
      return target;
    }
  }

  // A schema that reaches itself through $ref, allOf, anyOf, oneOf, not or dependencies alone
  // applies itself to the same value forever ({"allOf": [{"$ref": "#"}]}): RapidJSON 1.1.0
  // recurses until the stack overflows, whatever the body. Reaching itself through properties or
  // items is fine: each step goes one level down the body.
  void check_in_place_cycles(const SValue& v, const std::string& at, std::map<const SValue*, bool>& done) {
    auto [it, fresh] = done.emplace(&v, false);
    if (!fresh) {
      if (!it->second) fail(at, "the schema applies itself to the same value without end (a cycle through $ref, "
                                "allOf, anyOf, oneOf, not or dependencies that never goes into a property or item)");
      return;
    }
    if (const SValue* r = ref_of(v)) {
      SPointer target;
      const SValue* t = resolve(std::string(view(*r)), at, &target);
      check_in_place_cycles(*t, pointer_string(target), done);
    } else {
      for (const char* k : {"allOf", "anyOf", "oneOf"}) {
        const SValue* list = member(v, k);
        for (rapidjson::SizeType i = 0; list && i < list->Size(); ++i) {
          check_in_place_cycles((*list)[i], at + "/" + k + "/" + std::to_string(i), done);
        }
      }
      if (const SValue* n = member(v, "not")) check_in_place_cycles(*n, at + "/not", done);
      if (const SValue* d = member(v, "dependencies")) {
        for (const auto& m : d->GetObject()) {
          std::string here = at + "/dependencies";
          append_token(here, view(m.name));
          if (m.value.IsObject()) check_in_place_cycles(m.value, here, done);
        }
      }
    }
    it->second = true;
  }

  // Every value of the file, schema or not: RapidJSON 1.1.0 compiles every object in it.
  //  - A member name twice in one object is ambiguous, and 1.1.0 takes the first for keywords but
  //    the last for "properties".
  //  - 1.1.0 follows local $refs that lead to $refs by recursion, wherever they stand; a cycle
  //    would overflow the stack at startup.
  void check_document(const SValue& v, const std::string& at) {
    if (v.IsArray()) {
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) check_document(v[i], at + "/" + std::to_string(i));
      return;
    }
    if (!v.IsObject()) return;
    std::set<std::string_view> names;
    for (const auto& m : v.GetObject()) {
      if (!names.insert(view(m.name)).second) fail(at, "the member " + json_quoted(view(m.name)) + " appears twice");
    }
    // RapidJSON compiles every object of the document as a schema, wherever it stands (under an
    // unknown keyword too), and its compile is not exception-safe: an assertion thrown from a
    // pattern's parser leaks what it had allocated (found by the schema fuzzer). So whatever it
    // would compile anywhere is checked here first: patterns and enum values (and, once boolean
    // schemas are rewritten, check_before_compile's shapes).
    if (const SValue* pattern = member(v, "pattern"); pattern && pattern->IsString()) {
      std::string here = at;
      append_token(here, "pattern");
      check_pattern(*pattern, here);
    }
    if (const SValue* pp = member(v, "patternProperties"); pp && pp->IsObject()) {
      for (const auto& p : pp->GetObject()) {
        std::string here = at;
        append_token(here, "patternProperties");
        append_token(here, view(p.name));
        check_pattern(p.name, here);
      }
    }
    if (const SValue* e = member(v, "enum"); e && e->IsArray() && unhashable_number(*e)) {
      std::string here = at;
      append_token(here, "enum");
      fail(here, "\"enum\" holds a number of magnitude 2^63 or more, which RapidJSON 1.1.0 cannot compare");
    }
    std::set<const SValue*> seen{&v};
    for (const SValue* cur = &v; const SValue* r = cur->IsObject() ? ref_of(*cur) : nullptr;) {
      if (r->GetStringLength() == 0 || r->GetString()[0] != '#') break;
      SPointer p(r->GetString(), r->GetStringLength());
      if (!p.IsValid()) break;
      cur = p.Get(doc_);
      if (!cur) break;
      if (!seen.insert(cur).second) fail(at, "$ref " + json_quoted(view(*r)) + " is part of a cycle of $refs");
    }
    for (const auto& m : v.GetObject()) {
      if (at.empty() && view(m.name) == kInternalKey) continue;
      std::string here = at;
      append_token(here, view(m.name));
      check_document(m.value, here);
    }
  }

  // What RapidJSON is about to compile (boolean schemas written as objects by now), wherever it
  // stands: 1.1.0 compiles every object of the file as a schema, under unknown keywords and
  // property names too, and asserts (leaking what it had allocated) on
  //  - a "patternProperties" that is not an object (its member count, unchecked; the fuzzer),
  //  - a "dependencies" array holding a non-string (taken as a property name, unchecked),
  //  - a local $ref to something that is not an object (searched for a "$ref", unchecked).
  // Schema positions were checked with better messages already; these catch the rest.
  void check_before_compile(const SValue& v, const std::string& at) {
    if (v.IsArray()) {
      for (rapidjson::SizeType i = 0; i < v.Size(); ++i) check_before_compile(v[i], at + "/" + std::to_string(i));
      return;
    }
    if (!v.IsObject()) return;
    auto refuse = [&](const char* keyword, const char* why) {
      std::string here = at;
      append_token(here, keyword);
      fail(here, std::string(why) + " wherever it stands (RapidJSON 1.1.0 compiles every object of the file as a schema)");
    };
    if (const SValue* pp = member(v, "patternProperties"); pp && !pp->IsObject()) {
      refuse("patternProperties", "\"patternProperties\" must be an object");
    }
    if (const SValue* d = member(v, "dependencies"); d && d->IsObject()) {
      for (const auto& m : d->GetObject()) {
        if (!m.value.IsArray()) continue;
        for (const auto& x : m.value.GetArray()) {
          if (!x.IsString()) refuse("dependencies", "the arrays of \"dependencies\" must hold property names (strings)");
        }
      }
    }
    if (const SValue* r = ref_of(v); r && r->GetStringLength() > 0 && r->GetString()[0] == '#') {
      SPointer p(r->GetString(), r->GetStringLength());
      const SValue* target = p.IsValid() ? p.Get(doc_) : nullptr;
      if (target && !target->IsObject()) fail(at, "$ref " + json_quoted(view(*r)) + " points to a value that is not an object");
    }
    for (const auto& m : v.GetObject()) {
      std::string here = at;
      append_token(here, view(m.name));
      check_before_compile(m.value, here);
    }
  }

  // --- nodes: the schemas the descent visits ----------------------------------------------------

  // The node of the schema `v` standing at `p`, following $refs first. Nodes are shared, so a
  // recursive schema is a graph.
  const Node* node_at(const SValue& start, const SPointer& start_p) {
    const SValue* v = &start;
    SPointer p = start_p;
    if (const SValue* r = ref_of(*v)) v = resolve(std::string(view(*r)), pointer_string(p), &p);
    std::string key = pointer_string(p);
    if (auto it = nodes_by_pointer_.find(key); it != nodes_by_pointer_.end()) return it->second;
    Node& n = impl_.nodes.emplace_back();
    nodes_by_pointer_[key] = &n;

    const SValue* properties = member(*v, "properties");
    const SValue* required = member(*v, "required");
    const SValue* additional = member(*v, "additionalProperties");
    const SValue* pattern_properties = member(*v, "patternProperties");
    bool has_patterns = pattern_properties && pattern_properties->MemberCount() > 0;
    if (properties) {
      for (const auto& m : properties->GetObject()) {
        Node::Property prop;
        prop.name = std::string(view(m.name));
        prop.child = node_at(m.value, p.Append("properties", 10)
                                          .Append(m.name.GetString(), m.name.GetStringLength()));
        if (n.names.insert(prop.name).second) n.properties.push_back(std::move(prop));
      }
    }
    if (required) {
      for (const auto& r : required->GetArray()) {
        std::string name(view(r));
        if (n.names.insert(name).second) {
          n.properties.push_back(Node::Property{name, nullptr, true});
        } else {
          for (auto& prop : n.properties) {
            if (prop.name == name) prop.required = true;
          }
        }
      }
    }
    n.extras_handled = !has_patterns;
    if (additional && additional->IsBool() && !additional->GetBool()) {
      n.extra = Node::Extra::kForbidden;
    } else if (additional && additional->IsObject()) {
      n.extra = Node::Extra::kSchema;
      if (n.extras_handled) n.extra_schema = node_at(*additional, p.Append("additionalProperties", 20));
    }
    n.object_facet = !n.properties.empty() || (n.extras_handled && n.extra != Node::Extra::kAllowed);

    if (const SValue* items = member(*v, "items")) {
      n.array_facet = true;
      SPointer items_p = p.Append("items", 5);
      if (items->IsArray()) {
        for (rapidjson::SizeType i = 0; i < items->Size(); ++i) {
          n.tuple.push_back(node_at((*items)[i], items_p.Append(i)));
        }
        const SValue* more = member(*v, "additionalItems");
        if (more && more->IsBool() && !more->GetBool()) {
          n.extra_items = Node::Extra::kForbidden;
        } else if (more && more->IsObject()) {
          n.extra_items = Node::Extra::kSchema;
          n.extra_items_schema = node_at(*more, p.Append("additionalItems", 15));
        }
      } else {
        n.items = node_at(*items, items_p);
      }
    }
    if (const SValue* all_of = member(*v, "allOf")) {
      SPointer all_p = p.Append("allOf", 5);
      for (rapidjson::SizeType i = 0; i < all_of->Size(); ++i) {
        n.all_of.push_back(node_at((*all_of)[i], all_p.Append(i)));
      }
    }
    SValue name_dependencies(rapidjson::kObjectType);  // the array form stays a keyword check
    if (const SValue* dependencies = member(*v, "dependencies")) {
      SPointer deps_p = p.Append("dependencies", 12);
      for (const auto& m : dependencies->GetObject()) {
        if (m.value.IsArray()) {
          name_dependencies.AddMember(SValue(m.name, alloc_), SValue(m.value, alloc_), alloc_);
        } else {
          SPointer dep_p = deps_p.Append(m.name.GetString(), m.name.GetStringLength());
          n.dependency_schemas.emplace_back(std::string(view(m.name)), node_at(m.value, dep_p));
        }
      }
    }

    // The keyword checks: the node's validation keywords minus those the descent checks.
    std::vector<SValue> checks;
    auto single = [&](const SValue& name, const SValue& value) {
      SValue c(rapidjson::kObjectType);
      c.AddMember(SValue(name, alloc_), SValue(value, alloc_), alloc_);
      return c;
    };
    if (const SValue* type = member(*v, "type")) {
      checks.push_back(single(SValue("type"), *type));
      n.first_check_is_type = true;
    }
    SValue names_and_patterns(rapidjson::kObjectType);  // patternProperties and what it interacts with
    for (const auto& m : v->GetObject()) {
      std::string_view k = view(m.name);
      if (!validation_keywords().count(k)) continue;
      if (k == "type" || k == "required" || k == "allOf" || k == "items" || k == "additionalItems") continue;
      if (k == "dependencies") {
        if (!name_dependencies.ObjectEmpty()) checks.push_back(single(m.name, name_dependencies));
        continue;
      }
      if (k == "exclusiveMinimum" || k == "exclusiveMaximum") continue;  // with minimum/maximum
      if (k == "properties" || k == "additionalProperties" || k == "patternProperties") {
        if (n.extras_handled) continue;
        if (k == "properties") {
          // additionalProperties still needs the names; their schemas are checked by the descent.
          SValue stubs(rapidjson::kObjectType);
          for (const auto& prop : m.value.GetObject()) {
            stubs.AddMember(SValue(prop.name, alloc_), SValue(rapidjson::kObjectType), alloc_);
          }
          names_and_patterns.AddMember(SValue(m.name, alloc_), stubs, alloc_);
        } else {
          names_and_patterns.AddMember(SValue(m.name, alloc_), SValue(m.value, alloc_), alloc_);
        }
        continue;
      }
      SValue c = single(m.name, m.value);
      const char* companion = k == "minimum" ? "exclusiveMinimum" : k == "maximum" ? "exclusiveMaximum" : nullptr;
      if (const SValue* e = companion ? member(*v, companion) : nullptr) {
        c.AddMember(SValue(companion, alloc_), SValue(*e, alloc_), alloc_);
      }
      checks.push_back(std::move(c));
    }
    if (!names_and_patterns.ObjectEmpty()) checks.push_back(std::move(names_and_patterns));
    for (SValue& c : checks) {
      check_index_[&n].push_back(internal_array().Size());
      internal_array().PushBack(c, alloc_);
    }

    // The node's own schema, where RapidJSON can find it: in place if its pointer survives a
    // round trip through a $ref string (see resolve()), else as a copy.
    if (!(SPointer(uri_fragment(p).c_str()) == p)) {
      full_index_[&n] = internal_array().Size();
      internal_array().PushBack(SValue(*v, alloc_), alloc_);
    } else {
      full_pointer_[&n] = p;
    }
    return &n;
  }

  void compile() {
    try {
      impl_.main = std::make_unique<SchemaDoc>(doc_);
      impl_.provider.doc = impl_.main.get();
      SPointer internal = SPointer().Append(kInternalKey, static_cast<rapidjson::SizeType>(std::strlen(kInternalKey)));
      for (Node& n : impl_.nodes) {
        auto full = full_pointer_.find(&n);
        n.full = handle(full != full_pointer_.end() ? full->second : internal.Append(full_index_.at(&n)));
        for (rapidjson::SizeType i : check_index_[&n]) n.checks.push_back(handle(internal.Append(i)));
      }
    } catch (const std::logic_error& e) {
      throw ConfigError("JSON schema " + impl_.where + ": RapidJSON cannot compile it: " + e.what());
    }
  }

  // The compiled schema at `p` in the main document, through a document {"$ref": "r#<p>"}.
  // Should the lookup fail, that document's own schema would apply, and "not": {} makes it reject
  // everything rather than accept everything; Loader only asks for pointers that round-trip.
  const SchemaType* handle(const SPointer& p) {
    SDocument w;
    w.SetObject();
    std::string ref = "r" + uri_fragment(p);
    w.AddMember("$ref", SValue(ref.data(), static_cast<rapidjson::SizeType>(ref.size()), w.GetAllocator()),
                w.GetAllocator());
    w.AddMember("not", SValue(rapidjson::kObjectType), w.GetAllocator());
    impl_.handles.push_back(std::make_unique<SchemaDoc>(w, &impl_.provider));
    return &impl_.handles.back()->GetRoot();
  }

  CompiledSchema::Impl& impl_;
  SDocument& doc_;
  SDocument::AllocatorType& alloc_;
  std::set<std::string> checked_;
  std::vector<std::pair<std::string, const SValue*>> schemas_;  // every schema checked, and where
  std::vector<std::pair<std::string, std::string>> refs_;  // (where, $ref text)
  std::map<std::string, Node*> nodes_by_pointer_;
  std::map<const Node*, std::vector<rapidjson::SizeType>> check_index_;
  std::map<const Node*, rapidjson::SizeType> full_index_;
  std::map<const Node*, SPointer> full_pointer_;
};

// --- validation --------------------------------------------------------------------------------

SchemaError too_complex() { return SchemaError{"", "is too complex to validate against this schema", ""}; }

struct Failure {
  std::string keyword;
  SPointer schema;    // in the compiled document
  SPointer document;  // relative to the validated value
};

std::string plural(std::uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// One validate() call: the errors so far and the parent validator all checks are created from
// (sub-validators created that way report schema pointers into the main document).
class Run {
 public:
  explicit Run(const CompiledSchema::Impl& impl) : impl_(impl), parent_(*impl.main) {}

  // True when `value` satisfies `schema`; else fills `f` (unless the budget ran out).
  bool check(const SchemaType* schema, const rapidjson::Value& value, Failure* f) {
    auto* v = static_cast<Validator*>(parent_.CreateSchemaValidator(*schema));
    struct Release {
      Validator& parent;
      Validator* v;
      ~Release() { parent.DestroySchemaValidator(v); }
    } release{parent_, v};
    Feeder feeder(*v);
    value.Accept(feeder);
    if (BudgetScope::exhausted()) {
      exhausted_ = true;
      return false;
    }
    if (v->IsValid()) return true;
    const char* keyword = v->GetInvalidSchemaKeyword();
    f->keyword = keyword ? keyword : "";
    f->schema = v->GetInvalidSchemaPointer();
    f->document = v->GetInvalidDocumentPointer();
    return false;
  }

  void collect(const Node& n, const rapidjson::Value& value, const Failure& full, std::size_t depth) {
    if (stopped()) return;
    std::size_t before = found_;
    if (depth >= kMaxSchemaDescentDepth) {
      report(full, value);
      return;
    }
    for (std::size_t i = 0; i < n.checks.size(); ++i) {
      Failure f;
      if (check(n.checks[i], value, &f)) continue;
      if (exhausted_) return;
      report(f, value);
      // The value has the wrong type for this schema: what else it breaks is noise.
      if (i == 0 && n.first_check_is_type) return;
    }
    if (value.IsObject() && n.object_facet) collect_object(n, value, depth);
    if (value.IsArray() && n.array_facet) collect_array(n, value, depth);
    for (const auto& [name, schema] : n.dependency_schemas) {
      if (value.IsObject() && member(value, name)) child(*schema, value, depth);
    }
    for (const Node* branch : n.all_of) child(*branch, value, depth);
    if (found_ == before && !stopped()) report(full, value);  // the split found nothing: say what RapidJSON said
  }

  void add(const std::string& loc, std::string msg, std::string keyword) {
    ++found_;
    if (seen_.count({loc, msg})) return;  // allOf branches may repeat a constraint
    if (errors_.size() >= kMaxSchemaErrors) {
      truncated_ = true;
      return;
    }
    seen_.emplace(loc, msg);
    errors_.push_back(SchemaError{loc, std::move(msg), std::move(keyword)});
  }

  void report(const Failure& f, const rapidjson::Value& value);

  std::vector<SchemaError> finish() {
    if (exhausted_) {
      errors_.push_back(too_complex());
      if (errors_.size() > 1) errors_.back().msg = "is too complex to validate fully; further errors are not reported";
    } else if (truncated_) {
      errors_.push_back(SchemaError{"", "has more errors; only the first " + std::to_string(kMaxSchemaErrors) +
                                            " are reported",
                                    ""});
    }
    return std::move(errors_);
  }

  bool exhausted() const { return exhausted_; }
  std::size_t error_count() const { return errors_.size(); }

 private:
  bool stopped() const { return exhausted_ || truncated_; }

  void child(const Node& n, const rapidjson::Value& value, std::size_t depth) {
    if (stopped()) return;
    Failure f;
    if (check(n.full, value, &f) || exhausted_) return;
    collect(n, value, f, depth + 1);
  }

  void collect_object(const Node& n, const rapidjson::Value& value, std::size_t depth) {
    std::size_t mark = loc_.size();
    for (const auto& prop : n.properties) {
      if (stopped()) return;
      const rapidjson::Value* m = member(value, prop.name);
      append_token(loc_, prop.name);
      if (m && prop.child) child(*prop.child, *m, depth);
      if (!m && prop.required) add(loc_, "is required", "required");
      loc_.resize(mark);
    }
    if (!n.extras_handled || n.extra == Node::Extra::kAllowed) return;
    for (const auto& m : value.GetObject()) {
      if (stopped()) return;
      std::string_view name = view(m.name);
      if (n.names.count(name)) continue;
      append_token(loc_, name);
      if (n.extra == Node::Extra::kForbidden) add(loc_, "is not allowed", "additionalProperties");
      else child(*n.extra_schema, m.value, depth);
      loc_.resize(mark);
    }
  }

  void collect_array(const Node& n, const rapidjson::Value& value, std::size_t depth) {
    std::size_t mark = loc_.size();
    for (rapidjson::SizeType i = 0; i < value.Size(); ++i) {
      if (stopped()) return;
      const Node* c = n.items;
      bool forbidden = false;
      if (!c && i < n.tuple.size()) c = n.tuple[i];
      else if (!c && n.extra_items == Node::Extra::kSchema) c = n.extra_items_schema;
      else if (!c && n.extra_items == Node::Extra::kForbidden) forbidden = true;
      loc_ += '/';
      loc_ += std::to_string(i);
      if (c) child(*c, value[i], depth);
      if (forbidden) add(loc_, "is not allowed: at most " + plural(n.tuple.size(), "item", "items"), "additionalItems");
      loc_.resize(mark);
    }
  }

  const CompiledSchema::Impl& impl_;
  Validator parent_;
  std::vector<SchemaError> errors_;
  std::set<std::pair<std::string, std::string>> seen_;
  std::size_t found_ = 0;  // errors found, repeats included
  std::string loc_;
  bool truncated_ = false;
  bool exhausted_ = false;
};

std::string number_text(const SValue* v) { return v && v->IsNumber() ? to_json(*v) : "?"; }

std::uint64_t count_of(const SValue* v) { return v && v->IsUint64() ? v->GetUint64() : 0; }

// Turns RapidJSON's one error (a keyword, the schema holding it, the offending value) into
// messages. "required" and "dependencies" name each missing property.
void Run::report(const Failure& f, const rapidjson::Value& value) {
  std::string at = loc_ + pointer_string(f.document);
  const SValue* s = f.schema.IsValid() ? f.schema.Get(impl_.compiled) : nullptr;
  const rapidjson::Value* bad = &value;
  for (std::size_t i = 0; bad && i < f.document.GetTokenCount(); ++i) {
    const auto& t = f.document.GetTokens()[i];
    if (bad->IsObject()) {
      bad = member(*bad, std::string_view(t.name, t.length));
    } else if (bad->IsArray() && t.index < bad->Size()) {
      bad = &(*bad)[t.index];
    } else {
      bad = nullptr;
    }
  }
  const std::string& k = f.keyword;
  // A schema pointer RapidJSON could not name comes back empty, which is also the root's:
  // trust it only when the root has the keyword.
  const SValue* kv = s ? member(*s, k) : nullptr;
  auto flag = [&](const char* name) {
    const SValue* b = s ? member(*s, name) : nullptr;
    return b && b->IsBool() && b->GetBool();
  };

  if (k == "required" && kv && kv->IsArray() && bad && bad->IsObject()) {
    std::size_t before = found_;
    for (const auto& name : kv->GetArray()) {
      if (member(*bad, view(name))) continue;
      std::string where = at;
      append_token(where, view(name));
      add(where, "is required", "required");
    }
    if (found_ != before) return;
  }
  if (k == "required" && kv && kv->IsArray()) {
    // The object could not be examined (a body with a member name twice, say).
    std::string names;
    for (const auto& name : kv->GetArray()) names += (names.empty() ? "" : ", ") + json_quoted(view(name));
    add(at, "must have the required properties " + names, "required");
    return;
  }
  if (k == "dependencies" && kv && kv->IsObject() && bad && bad->IsObject()) {
    std::size_t before = found_;
    for (const auto& d : kv->GetObject()) {
      if (!member(*bad, view(d.name))) continue;
      if (d.value.IsArray()) {
        for (const auto& name : d.value.GetArray()) {
          if (member(*bad, view(name))) continue;
          std::string where = at;
          append_token(where, view(name));
          add(where, "is required when " + json_quoted(view(d.name)) + " is present", "dependencies");
        }
      }
    }
    if (found_ == before) {
      std::string names;
      for (const auto& d : kv->GetObject()) {
        if (!d.value.IsObject() || !member(*bad, view(d.name))) continue;
        names += (names.empty() ? "" : ", ") + json_quoted(view(d.name));
      }
      add(at, "must match the schema that \"dependencies\" gives for " + (names.empty() ? "its properties" : names),
          "dependencies");
    }
    return;
  }

  std::string msg;
  std::string keyword = k;
  if (k.empty()) {
    msg = "is invalid";
  } else if (k == "patternProperties") {
    // Raised in the property's own context, whose schema RapidJSON cannot name.
    msg = "does not match the schema of \"patternProperties\" (or \"additionalProperties\") for its name";
  } else if (k == "uniqueItems") {
    msg = "must not repeat an earlier item";
  } else if (k == "additionalProperties") {
    msg = "is not allowed";
  } else if (k == "allOf") {
    msg = "must match all schemas in \"allOf\"";
  } else if (k == "anyOf") {
    msg = "must match at least one schema in \"anyOf\"";
  } else if (k == "oneOf") {
    msg = "must match exactly one schema in \"oneOf\"";
  } else if (!kv && k != "items") {
    msg = "does not satisfy \"" + k + "\"";
  } else if (k == "type") {
    std::string names;
    auto add_name = [&](const SValue& t) {
      if (!names.empty()) names += " or ";
      names += std::string(view(t));
    };
    if (kv->IsString()) add_name(*kv);
    else for (const auto& t : kv->GetArray()) add_name(t);
    msg = "must be of type " + names;
  } else if (k == "enum") {
    std::string list;
    for (const auto& e : kv->GetArray()) {
      if (list.size() > 200) {
        list += ", ...";
        break;
      }
      if (!list.empty()) list += ", ";
      list += to_json(e);
    }
    msg = kv->Size() == 1 ? "must be " + list : "must be one of " + list;
  } else if (k == "minimum") {
    msg = std::string("must be ") + (flag("exclusiveMinimum") ? "> " : ">= ") + number_text(kv);
  } else if (k == "maximum") {
    msg = std::string("must be ") + (flag("exclusiveMaximum") ? "< " : "<= ") + number_text(kv);
  } else if (k == "multipleOf") {
    msg = "must be a multiple of " + number_text(kv);
  } else if (k == "minLength") {
    msg = "must be at least " + plural(count_of(kv), "character", "characters") + " long";
  } else if (k == "maxLength") {
    msg = "must be at most " + plural(count_of(kv), "character", "characters") + " long";
  } else if (k == "pattern") {
    msg = "must match the pattern " + (kv->IsString() ? json_quoted(view(*kv)) : std::string("?"));
  } else if (k == "minItems") {
    msg = "must have at least " + plural(count_of(kv), "item", "items");
  } else if (k == "maxItems") {
    msg = "must have at most " + plural(count_of(kv), "item", "items");
  } else if (k == "minProperties") {
    msg = "must have at least " + plural(count_of(kv), "property", "properties");
  } else if (k == "maxProperties") {
    msg = "must have at most " + plural(count_of(kv), "property", "properties");
  } else if (k == "items") {
    // An item past a tuple's end with "additionalItems": false.
    const SValue* items = s ? member(*s, "items") : nullptr;
    msg = items && items->IsArray() ? "is not allowed: at most " + plural(items->Size(), "item", "items")
                                    : "is not allowed";
    keyword = "additionalItems";
  } else if (k == "not") {
    // {"not": {}} is how a false schema is compiled, and "additionalProperties": false beside
    // patternProperties.
    bool is_false = kv->IsObject() && kv->ObjectEmpty();
    msg = is_false ? "is not allowed" : "must not match the schema in \"not\"";
    std::size_t n = f.schema.GetTokenCount();
    if (is_false) {
      keyword = n > 0 && std::string_view(f.schema.GetTokens()[n - 1].name, f.schema.GetTokens()[n - 1].length) ==
                             "additionalProperties"
                    ? "additionalProperties"
                    : "false";
    }
  } else {
    msg = "does not satisfy \"" + k + "\"";
  }
  add(at, std::move(msg), std::move(keyword));
}

// Size and shape of a body, without recursion: it decides the work budget.
struct BodyShape {
  std::size_t values = 0;         // values and keys
  std::size_t depth = 0;          // deepest nesting
  std::size_t pair_compares = 0;  // sum of n*(n-1)/2 over arrays: uniqueItems' cost in 1.1.0
};

BodyShape measure(const rapidjson::Value& body) {
  BodyShape shape;
  std::vector<std::pair<const rapidjson::Value*, std::size_t>> stack{{&body, 1}};
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max() / 2;
  while (!stack.empty()) {
    auto [v, depth] = stack.back();
    stack.pop_back();
    ++shape.values;
    shape.depth = std::max(shape.depth, depth);
    if (v->IsObject()) {
      for (const auto& m : v->GetObject()) {
        ++shape.values;
        stack.emplace_back(&m.value, depth + 1);
      }
    } else if (v->IsArray()) {
      std::size_t n = v->Size();
      shape.pair_compares = std::min(kMax, shape.pair_compares + n * (n - 1) / 2);
      for (const auto& x : v->GetArray()) stack.emplace_back(&x, depth + 1);
    }
  }
  return shape;
}

// uniqueItems compares 64-bit hashes, about a nanosecond each.
constexpr std::size_t kPairComparesPerWorkUnit = 1;

std::size_t budget_for(const BodyShape& shape) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max() / 2;  // room to count past it
  if (shape.values > (kMax - kSchemaWorkBase) / kSchemaWorkPerValue) return kMax;
  return kSchemaWorkBase + shape.values * kSchemaWorkPerValue;
}

}  // namespace

CompiledSchema::CompiledSchema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CompiledSchema::~CompiledSchema() = default;

const rapidjson::Value& CompiledSchema::document() const { return impl_->original; }
const std::string& CompiledSchema::where() const { return impl_->where; }

std::shared_ptr<const CompiledSchema> CompiledSchema::load(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw ConfigError("JSON schema " + path + ": is a directory, not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("JSON schema " + path + ": cannot open the file: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError("JSON schema " + path + ": cannot read the file: " + std::strerror(errno));
  return from_text(text.str(), path);
}

std::shared_ptr<const CompiledSchema> CompiledSchema::from_text(const std::string& text, const std::string& where) {
  auto impl = std::make_unique<Impl>();
  impl->where = where;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) throw ConfigError("JSON schema " + where + ": is empty");
  try {
    impl->original = parse_json_body(text);
  } catch (const BadRequest& e) {
    throw ConfigError("JSON schema " + where + ": " + e.what());
  }
  if (!impl->original.IsObject() && !impl->original.IsBool()) {
    throw ConfigError("JSON schema " + where + ": must be a JSON object or boolean (a schema), not " +
                      std::string(impl->original.IsArray() ? "an array" : impl->original.IsString() ? "a string"
                                                                         : impl->original.IsNumber() ? "a number"
                                                                                                     : "null"));
  }
  if (member(impl->original, kInternalKey)) {
    throw ConfigError("JSON schema " + where + ": the member \"" + kInternalKey + "\" is reserved");
  }
  auto copy = [&](SDocument& d) { return impl->original.Accept(d); };
  impl->compiled.Populate(copy);
  if (impl->compiled.IsBool()) {
    bool accept = impl->compiled.GetBool();
    impl->compiled.SetObject();
    if (!accept) impl->compiled.AddMember("not", SValue(rapidjson::kObjectType), impl->compiled.GetAllocator());
  }
  impl->compiled.AddMember(SValue(kInternalKey, impl->compiled.GetAllocator()), SValue(rapidjson::kArrayType),
                           impl->compiled.GetAllocator());
  Loader(*impl).run();
  return std::shared_ptr<const CompiledSchema>(new CompiledSchema(std::move(impl)));
}

namespace {

// Sets up the budget for `body` and charges what can be known before validating; false when the
// body is over it already.
bool start_budget(const CompiledSchema::Impl& impl, const rapidjson::Value& body, std::optional<BudgetScope>* scope) {
  BodyShape shape = measure(body);
  scope->emplace(budget_for(shape));
  // Deeper than any parsed body can be; RapidJSON's Accept recurses once per level.
  if (shape.depth > kDefaultJsonMaxDepth) return false;
  if (impl.has_unique_items) BudgetScope::charge(shape.pair_compares / kPairComparesPerWorkUnit);
  return !BudgetScope::exhausted();
}

}  // namespace

std::vector<SchemaError> CompiledSchema::validate(const rapidjson::Value& body) const {
  if ((impl_->has_enum || impl_->has_unique_items) && unhashable_number(body)) {
    return {SchemaError{"", "holds a number of magnitude 2^63 or more, which this schema cannot check", ""}};
  }
  std::optional<BudgetScope> scope;
  if (!start_budget(*impl_, body, &scope)) return {too_complex()};
  Run run(*impl_);
  Failure f;
  if (run.check(impl_->root->full, body, &f)) return {};
  if (run.exhausted()) return {too_complex()};
  run.collect(*impl_->root, body, f, 0);
  if (run.error_count() == 0) run.report(f, body);  // the budget ran out before the descent found one
  return run.finish();
}

bool CompiledSchema::is_valid(const rapidjson::Value& body) const {
  if ((impl_->has_enum || impl_->has_unique_items) && unhashable_number(body)) return false;
  std::optional<BudgetScope> scope;
  if (!start_budget(*impl_, body, &scope)) return false;
  Failure f;
  return Run(*impl_).check(impl_->root->full, body, &f);
}

}  // namespace flaskpp::core
