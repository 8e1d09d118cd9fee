#include "agent/core/policy_book.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/policy/compiled_policy.h"
#include "agent/policy/policy_validation.h"
#include "agent/util/log.h"

namespace nfr {
namespace {

absl::Status PolicyTooLarge(absl::string_view field, size_t bytes, size_t max_bytes) {
  return absl::ResourceExhaustedError(
      absl::StrCat(field, ": policy is ", bytes, " bytes, over api.limits.max_policy_bytes (",
                   max_bytes, "); merge rules or prefixes, or raise the limit"));
}

}  // namespace

absl::Status ValidatePolicyChange(const nfr::v1::Policy& policy, absl::string_view field,
                                  size_t max_bytes) {
  const size_t bytes = policy.ByteSizeLong();
  if (bytes > max_bytes) return PolicyTooLarge(field, bytes, max_bytes);
  return ValidatePolicy(policy, absl::StrCat(field, "."));
}

absl::Status PolicyBook::RestoreOrSeed() {
  std::lock_guard<std::mutex> l(mu_);
  absl::StatusOr<std::optional<nfr::v1::Policy>> latest = store_->LatestPolicy();
  if (!latest.ok()) return latest.status();
  if (latest->has_value()) {
    if (absl::Status s = agent_->InstallPolicy(**latest); !s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("stored policy version ", (*latest)->version(), " in ", store_->path(),
                       " is not accepted by this agent: ", s.message(),
                       "; fix it with a newer nfrctl policy apply or move the database away"));
    }
    LogLine(absl::StrCat("nfr-agent: policy version ", (*latest)->version(), " restored from ",
                         store_->path(),
                         " (the config file's policy only seeds a new database; change it with "
                         "nfrctl policy apply)"));
    return absl::OkStatus();
  }
  nfr::v1::Policy p = agent_->GetPolicy();
  if (p.version() == 0) {
    p.set_version(1);
    if (absl::Status s = agent_->InstallPolicy(p); !s.ok()) return s;
  }
  return store_->SavePolicy(p, "nfr-agent", "initial policy from configuration");
}

absl::StatusOr<nfr::v1::Policy> PolicyBook::Apply(const nfr::v1::Policy& policy,
                                                  const PolicyChange& change) {
  return Change(change, [&](nfr::v1::Policy* next) -> absl::StatusOr<std::string> {
    *next = policy;
    return change.comment.empty() ? "apply" : change.comment;
  });
}

absl::StatusOr<nfr::v1::Policy> PolicyBook::AddRule(const nfr::v1::Rule& rule,
                                                    std::optional<uint32_t> position,
                                                    const PolicyChange& change) {
  if (absl::Status s = ValidateRule(rule, "rule"); !s.ok()) return s;
  return Change(change, [&](nfr::v1::Policy* next) -> absl::StatusOr<std::string> {
    for (const nfr::v1::Rule& r : next->rules()) {
      if (r.id() == rule.id()) {
        return absl::AlreadyExistsError(
            absl::StrCat("rule.id: a rule \"", r.id(), "\" already exists in policy version ",
                         next->version(), "; pick another id or remove it first"));
      }
    }
    const int size = next->rules_size();
    const int pos =
        position.has_value() ? static_cast<int>(std::min<uint32_t>(*position, size)) : size;
    *next->add_rules() = rule;
    for (int i = size; i > pos; --i) next->mutable_rules()->SwapElements(i, i - 1);
    return change.comment.empty() ? absl::StrCat("add rule ", rule.id()) : change.comment;
  });
}

absl::StatusOr<nfr::v1::Policy> PolicyBook::RemoveRule(const std::string& rule_id,
                                                       const PolicyChange& change) {
  return Change(change, [&](nfr::v1::Policy* next) -> absl::StatusOr<std::string> {
    auto* rules = next->mutable_rules();
    const auto it = std::remove_if(rules->begin(), rules->end(),
                                   [&](const nfr::v1::Rule& r) { return r.id() == rule_id; });
    if (it == rules->end()) {
      return absl::NotFoundError(absl::StrCat("rule_id: no rule \"", rule_id,
                                              "\" in policy version ", next->version(),
                                              "; list rules with nfrctl policy get"));
    }
    rules->erase(it, rules->end());
    return change.comment.empty() ? absl::StrCat("remove rule ", rule_id) : change.comment;
  });
}

absl::StatusOr<nfr::v1::Policy> PolicyBook::UpdateSet(const SetDelta& delta,
                                                      const PolicyChange& change,
                                                      SetDeltaResult* result) {
  return Change(change, [&](nfr::v1::Policy* next) -> absl::StatusOr<std::string> {
    const bool ports = !delta.add_ports.empty() || !delta.remove_ports.empty();
    const bool prefixes = !delta.add.empty() || !delta.remove.empty();
    if (ports && prefixes) {
      return absl::InvalidArgumentError(
          "add_ports/remove_ports: a set holds prefixes or ports, not both; send two updates");
    }
    absl::StatusOr<SetDeltaResult> r =
        ports ? ApplyPortSetDelta(*next, delta.name, delta.add_ports, delta.remove_ports)
              : ApplySetDelta(*next, delta.name, delta.add, delta.remove);
    if (!r.ok()) return r.status();
    *result = *r;
    return change.comment.empty()
               ? absl::StrCat("update set ", delta.name, ": +", r->added, " -", r->removed)
               : change.comment;
  });
}

absl::StatusOr<PolicyBook::DerivedRule> PolicyBook::AddRuleForPending(
    const nfr::v1::PendingConnection& pending, nfr::v1::Verdict verdict, const std::string& rule_id,
    const std::string& author, const std::string& reason) {
  DerivedRule out;
  PolicyChange change;
  change.author = author;
  change.comment = absl::StrCat("rule from pending ", pending.id());
  absl::StatusOr<nfr::v1::Policy> done =
      Change(change, [&](nfr::v1::Policy* next) -> absl::StatusOr<std::string> {
        auto taken = [&](const std::string& id) {
          return std::any_of(next->rules().begin(), next->rules().end(),
                             [&](const nfr::v1::Rule& r) { return r.id() == id; });
        };
        std::string id = rule_id;
        if (id.empty()) {
          id = absl::StrCat("decided-", pending.id());
          for (int n = 2; taken(id); ++n) id = absl::StrCat("decided-", pending.id(), "-", n);
        } else if (taken(id)) {
          return absl::AlreadyExistsError(
              absl::StrCat("rule_id: a rule \"", id, "\" already exists; pick another id"));
        }
        out.rule = RuleForFlow(pending.flow(), verdict, id);
        out.rule.set_comment(absl::StrCat("decided by ", author, reason.empty() ? "" : ": ", reason)
                                 .substr(0, kMaxCommentLength));
        if (absl::Status s = ValidateRule(out.rule, "rule_id"); !s.ok()) return s;
        *next->add_rules() = out.rule;
        for (int i = next->rules_size() - 1; i > 0; --i) {
          next->mutable_rules()->SwapElements(i, i - 1);
        }
        return change.comment;
      });
  if (!done.ok()) return done.status();
  out.policy = *std::move(done);
  return out;
}

absl::StatusOr<nfr::v1::Policy> PolicyBook::Change(const PolicyChange& change, const Edit& edit) {
  if (change.comment.size() > kMaxCommentLength) {
    return absl::InvalidArgumentError(absl::StrCat("comment: ", change.comment.size(),
                                                   " bytes, over the limit of ", kMaxCommentLength,
                                                   "; shorten it"));
  }
  std::lock_guard<std::mutex> l(mu_);
  const uint64_t version = agent_->PolicyVersion();
  if (change.expected_version.has_value() && *change.expected_version != version) {
    return absl::FailedPreconditionError(absl::StrCat(
        "expected_version: policy is at version ", version, ", not ", *change.expected_version,
        "; fetch the current policy (nfrctl policy get), reapply your change and retry"));
  }
  // One copy of the policy per change: the edit works on it in place.
  nfr::v1::Policy next = agent_->GetPolicy();
  absl::StatusOr<std::string> comment = edit(&next);
  if (!comment.ok()) return comment.status();
  next.set_version(version + 1);
  return Commit(version, std::move(next), change.author, *comment);
}

absl::StatusOr<nfr::v1::Policy> PolicyBook::Commit(uint64_t current_version, nfr::v1::Policy next,
                                                   const std::string& author,
                                                   absl::string_view comment) {
  const size_t bytes = next.ByteSizeLong();
  if (bytes > max_policy_bytes_) return PolicyTooLarge("policy", bytes, max_policy_bytes_);
  auto compiled = CompiledPolicy::Compile(next, "policy.");  // validates
  if (!compiled.ok()) return compiled.status();
  // Stored before it is installed: a store failure leaves the agent as it was.
  if (absl::Status s = store_->SavePolicy(next, author, comment); !s.ok()) {
    // A full disk stays RESOURCE_EXHAUSTED (the store says so); other failures are internal.
    const absl::StatusCode code =
        s.code() == absl::StatusCode::kResourceExhausted ? s.code() : absl::StatusCode::kInternal;
    return absl::Status(
        code, absl::StrCat("policy version ", next.version(), " could not be stored (", s.message(),
                           "); the agent kept version ", current_version,
                           ". Check free space and permissions of ", store_->path()));
  }
  agent_->InstallCompiled(*std::move(compiled));
  return next;
}

}  // namespace nfr
