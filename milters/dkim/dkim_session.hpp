// milters/dkim/dkim_session.hpp - mailmoat-dkim per-connection session: sign or verify, one message at a time.
#pragma once
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/dkim/key_cache.hpp"
#include "common/dkim/signer.hpp"
#include "common/dkim/verifier.hpp"
#include "common/dns/resolver.hpp"
#include "common/mail/header.hpp"
#include "common/milter/header_value.hpp"
#include "common/milter/runner.hpp"
#include "common/milter/session.hpp"
#include "common/util/clock.hpp"
#include "milters/dkim/settings.hpp"

namespace mailmoat::dkimd {

/// What every session of one configuration shares (replaced as a whole on SIGHUP).
struct Runtime {
    std::shared_ptr<const Settings> settings;
    std::shared_ptr<dns::Resolver> resolver;
    std::shared_ptr<dkim::PublicKeyCache> key_cache;
    std::shared_ptr<const util::Clock> clock;
};

/// Header fields kept per message for signing and for finding forged Authentication-Results.
inline constexpr std::size_t max_kept_headers = 10000;
inline constexpr std::size_t max_kept_header_bytes = 4 * 1024 * 1024;

/// The first address of a From value ("Name <a@b>", "a@b (c)", "a@b, c@d"): the first angle-addr
/// outside quotes and comments, else the first bare word holding '@'. Empty when there is none.
/// Only the domain part picks the signing key; the address is not validated further.
[[nodiscard]] std::string first_from_address(std::string_view value);
// Header values cross between the milter protocol's form and the wire form with milter::wire_value/milter_value.
using milter::milter_value;
using milter::wire_value;

/// Per connection. The client is internal (signing) when its address is in internal-hosts or the
/// message comes with {auth_authen}; such mail is signed in modes s and sv. Everything else (and
/// in mode v all mail) is verified; in mode s other mail passes untouched.
/// At end of message: signing inserts the DKIM-Signature field(s) at the top and changes nothing
/// else; verifying deletes Authentication-Results fields claiming our authserv-id (RFC 8601 §5) and
/// inserts one Authentication-Results field at the top with a dkim= result per signature (RFC 8601
/// §2.7.1) or dkim=none. Any unexpected failure tempfails the message (never accepted unprocessed),
/// and so does every message of a connection whose connect event this session did not see (the
/// client's standing is unknown: signing or verifying could both be wrong). The MTA waits for no
/// reply before end of message, so such verdicts reach it there.
class DkimSession final : public milter::Session {
public:
    explicit DkimSession(std::shared_ptr<const Runtime> rt) : rt_(std::move(rt)) {}

    milter::Status on_connect(const milter::ConnectInfo& info) override;
    milter::Status on_envfrom(const std::vector<std::string_view>& args) override;
    milter::Status on_header(std::string_view name, std::string_view value) override;
    milter::Status on_eoh() override;
    milter::Status on_body(std::string_view chunk) override;
    milter::Status on_eom(milter::Modifier& modifier) override;
    void reset() override;

private:
    enum class Action { none, sign, verify };
    milter::Status sign_eom(milter::Modifier& m, const std::string& qid);
    milter::Status verify_eom(milter::Modifier& m, const std::string& qid);

    std::shared_ptr<const Runtime> rt_;
    bool connected_ = false;  // on_connect ran: whether the client is internal is known
    bool internal_client_ = false;
    Action action_ = Action::none;
    bool authenticated_ = false;
    std::vector<mail::HeaderField> headers_;
    std::size_t header_bytes_ = 0;
    bool header_overflow_ = false;
    std::vector<std::unique_ptr<dkim::Signer>> signers_;
    std::vector<SigningChoice> choices_;
    std::string no_sign_reason_;
    std::unique_ptr<dkim::Verifier> verifier_;
};

/// Actions, stages and macros mailmoat-dkim asks of the MTA.
[[nodiscard]] milter::RunnerOptions runner_options(const util::SocketSpec& socket);

}  // namespace mailmoat::dkimd
