// common/store/cached_grey_store.cpp - in-memory front of the SQLite store: sharded maps, group commit, batched writes.
#include "common/store/cached_grey_store.hpp"

#include <algorithm>
#include <functional>
#include <optional>

namespace mailmoat::store {
namespace {

Entry to_entry(std::string_view key, std::int64_t first, std::int64_t last, std::uint64_t count, bool passed) {
    return Entry{std::string(key), from_unix(first), from_unix(last), count, passed};
}

}  // namespace

CachedGreyStore::CachedGreyStore(std::unique_ptr<SqliteGreyStore> backing, CacheOptions options)
    : backing_(std::move(backing)), options_(options) {
    auto loaded = backing_->load();
    if (loaded.status != Status::ok) throw StoreError(backing_->describe() + ": cannot load: " + loaded.error);
    for (auto& e : loaded.entries) {
        auto& s = shard(e.key);
        s.entries[e.key] = Row{to_unix(e.first_seen), to_unix(e.last_seen), e.count, e.passed};
    }
    for (auto& c : loaded.clients) {
        auto& s = shard(c.client);
        s.clients[c.client] = ClientRow{to_unix(c.last_seen), c.count};
    }
    last_change_ = loaded.last_change;
    thread_ = std::thread([this] { writer(); });
}

CachedGreyStore::~CachedGreyStore() {
    {
        std::lock_guard<std::mutex> lk(wake_mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

CachedGreyStore::Shard& CachedGreyStore::shard(std::string_view key) {
    return shards_[std::hash<std::string_view>{}(key) % shard_count];
}

void CachedGreyStore::mark(Shard& s, const std::string& key, bool client) {
    if (!client && !s.seen_entries.empty()) s.seen_entries.erase(key);  // written with the urgent rows now
    auto& dirty = client ? s.dirty_clients : s.dirty_entries;
    if (dirty.insert(key).second && pending_.fetch_add(1, std::memory_order_relaxed) + 1 == options_.flush_rows)
        wake_.notify_one();
}

void CachedGreyStore::mark_seen(Shard& s, std::string_view key) {
    // Usually there already: no key copy then.
    if (!s.dirty_entries.contains(key) && !s.seen_entries.contains(key)) s.seen_entries.emplace(key);
}

std::size_t CachedGreyStore::pending() const {
    return pending_.load(std::memory_order_relaxed);
}

EntryResult CachedGreyStore::seen(std::string_view key, TimePoint now, std::chrono::seconds max_age) {
    const auto t = to_unix(now);
    EntryResult r;
    r.status = Status::ok;
    auto& s = shard(key);
    {
        std::lock_guard<std::mutex> lk(s.mutex);
        auto it = s.entries.find(key);
        if (it != s.entries.end() && it->second.last >= t - max_age.count()) {
            auto& row = it->second;
            r.entry = to_entry(key, row.first, row.last, row.count, row.passed);
            row.last = t;
            row.count += 1;
            mark_seen(s, key);
            return r;
        }
        std::string k(key);
        if (it != s.entries.end())
            it->second = Row{t, t, 1, false};
        else
            s.entries.emplace(k, Row{t, t, 1, false});
        mark(s, k, false);
    }
    r.created = true;
    r.entry = to_entry(key, t, t, 1, false);
    // A new entry is answered only once it is committed (group commit with every other creator).
    std::unique_lock<std::mutex> lk(wake_mutex_);
    const auto ticket = next_ticket_;
    want_ticket_ = std::max(want_ticket_, ticket);
    wake_.notify_one();
    const bool done = committed_.wait_for(lk, options_.commit_timeout, [&] { return done_ticket_ >= ticket; });
    if (!done || failed_ticket_ >= ticket) {
        EntryResult f;
        f.status = Status::tempfail;
        f.error = done ? failure_ : "store commit timed out";
        return f;
    }
    return r;
}

EntryResult CachedGreyStore::touch(std::string_view key, TimePoint now, bool passed) {
    EntryResult r;
    r.status = Status::not_found;
    auto& s = shard(key);
    std::lock_guard<std::mutex> lk(s.mutex);
    std::string k(key);
    auto it = s.entries.find(k);
    if (it == s.entries.end()) return r;
    auto& row = it->second;
    row.last = to_unix(now);
    row.count += 1;
    row.passed = row.passed || passed;
    mark(s, k, false);
    r.status = Status::ok;
    r.entry = to_entry(key, row.first, row.last, row.count, row.passed);
    return r;
}

EntryResult CachedGreyStore::set_passed(std::string_view key) {
    EntryResult r;
    r.status = Status::not_found;
    auto& s = shard(key);
    std::lock_guard<std::mutex> lk(s.mutex);
    std::string k(key);
    auto it = s.entries.find(k);
    if (it == s.entries.end()) return r;
    auto& row = it->second;
    row.passed = true;
    mark(s, k, false);
    r.status = Status::ok;
    r.entry = to_entry(key, row.first, row.last, row.count, row.passed);
    return r;
}

EntryResult CachedGreyStore::restart(std::string_view key, TimePoint now) {
    EntryResult r;
    r.status = Status::not_found;
    auto& s = shard(key);
    std::lock_guard<std::mutex> lk(s.mutex);
    std::string k(key);
    auto it = s.entries.find(k);
    if (it == s.entries.end()) return r;
    const auto t = to_unix(now);
    it->second = Row{t, t, 1, false};
    mark(s, k, false);
    r.status = Status::ok;
    r.entry = to_entry(key, t, t, 1, false);
    return r;
}

ClientResult CachedGreyStore::client(std::string_view client, TimePoint now, std::chrono::seconds max_age) {
    ClientResult r;
    r.status = Status::not_found;
    auto& s = shard(client);
    std::lock_guard<std::mutex> lk(s.mutex);
    auto it = s.clients.find(std::string(client));
    if (it == s.clients.end() || it->second.last < to_unix(now) - max_age.count()) return r;
    r.status = Status::ok;
    r.client = ClientEntry{std::string(client), from_unix(it->second.last), it->second.count};
    return r;
}

ClientResult CachedGreyStore::add_client_pass(std::string_view client, TimePoint now, std::uint64_t at_least) {
    auto& s = shard(client);
    std::lock_guard<std::mutex> lk(s.mutex);
    std::string k(client);
    auto [it, inserted] = s.clients.try_emplace(k, ClientRow{});
    auto& row = it->second;
    row.count = inserted ? std::max<std::uint64_t>(1, at_least) : std::max(row.count + 1, at_least);
    row.last = to_unix(now);
    mark(s, k, true);
    ClientResult r;
    r.status = Status::ok;
    r.client = ClientEntry{k, from_unix(row.last), row.count};
    return r;
}

CountResult CachedGreyStore::expire(TimePoint cutoff) {
    const auto c = to_unix(cutoff);
    CountResult r;
    r.status = Status::ok;
    for (auto& s : shards_) {
        std::lock_guard<std::mutex> lk(s.mutex);
        for (auto it = s.entries.begin(); it != s.entries.end();) {
            if (it->second.last < c) {
                mark(s, it->first, false);
                it = s.entries.erase(it);
                ++r.count;
            } else {
                ++it;
            }
        }
        for (auto it = s.clients.begin(); it != s.clients.end();) {
            if (it->second.last < c) {
                mark(s, it->first, true);
                it = s.clients.erase(it);
                ++r.count;
            } else {
                ++it;
            }
        }
    }
    wake_.notify_one();
    return r;
}

ListResult CachedGreyStore::list(std::string_view substring, std::size_t limit) {
    auto f = flush();
    if (f.status != Status::ok) {
        ListResult r;
        r.status = Status::tempfail;
        r.error = f.error;
        return r;
    }
    return backing_->list(substring, limit);
}

CountResult CachedGreyStore::remove(std::string_view key, bool client) {
    auto& s = shard(key);
    std::lock_guard<std::mutex> lk(s.mutex);
    std::string k(key);
    const bool erased = client ? s.clients.erase(k) > 0 : s.entries.erase(k) > 0;
    mark(s, k, client);
    CountResult r;
    r.status = erased ? Status::ok : Status::not_found;
    r.count = erased ? 1 : 0;
    return r;
}

CountResult CachedGreyStore::add_manual(std::string_view kind, std::string_view value, TimePoint now) {
    return backing_->add_manual(kind, value, now);
}
CountResult CachedGreyStore::remove_manual(std::string_view kind, std::string_view value) {
    return backing_->remove_manual(kind, value);
}
ManualResult CachedGreyStore::manual() {
    return backing_->manual();
}

CountResult CachedGreyStore::flush() {
    std::lock_guard<std::mutex> lk(flush_mutex_);
    apply_changes();
    return flush_once(true);
}

CountResult CachedGreyStore::flush_once(bool with_seen) {
    std::uint64_t generation = 0;
    {
        std::lock_guard<std::mutex> lk(wake_mutex_);
        generation = next_ticket_++;
    }
    // Collected after the generation is taken: a row marked before a creator took its ticket is in it.
    Batch batch;
    std::vector<std::string> entry_keys, client_keys, seen_keys;
    for (auto& s : shards_) {
        std::lock_guard<std::mutex> lk(s.mutex);
        for (auto& k : s.dirty_entries) {
            if (auto it = s.entries.find(k); it != s.entries.end())
                batch.entries.push_back(to_entry(k, it->second.first, it->second.last, it->second.count, it->second.passed));
            else
                batch.deleted_entries.push_back(k);
        }
        for (auto& k : s.dirty_clients) {
            if (auto it = s.clients.find(k); it != s.clients.end())
                batch.clients.push_back(ClientEntry{k, from_unix(it->second.last), it->second.count});
            else
                batch.deleted_clients.push_back(k);
        }
        if (with_seen) {
            for (auto& k : s.seen_entries)
                if (auto it = s.entries.find(k); it != s.entries.end())
                    batch.entries.push_back(
                        to_entry(k, it->second.first, it->second.last, it->second.count, it->second.passed));
            seen_keys.insert(seen_keys.end(), std::make_move_iterator(s.seen_entries.begin()),
                             std::make_move_iterator(s.seen_entries.end()));
            s.seen_entries.clear();
        }
        entry_keys.insert(entry_keys.end(), std::make_move_iterator(s.dirty_entries.begin()),
                          std::make_move_iterator(s.dirty_entries.end()));
        client_keys.insert(client_keys.end(), std::make_move_iterator(s.dirty_clients.begin()),
                           std::make_move_iterator(s.dirty_clients.end()));
        s.dirty_entries.clear();
        s.dirty_clients.clear();
    }
    pending_.fetch_sub(entry_keys.size() + client_keys.size(), std::memory_order_relaxed);
    CountResult r;
    r.status = Status::ok;
    if (batch.size() > 0) r = backing_->write(batch);
    if (r.status != Status::ok) {
        // Nothing was written: the rows wait for the next flush (their current values then).
        for (auto& k : entry_keys) {
            auto& s = shard(k);
            std::lock_guard<std::mutex> lk(s.mutex);
            mark(s, k, false);
        }
        for (auto& k : client_keys) {
            auto& s = shard(k);
            std::lock_guard<std::mutex> lk(s.mutex);
            mark(s, k, true);
        }
        for (auto& k : seen_keys) {
            auto& s = shard(k);
            std::lock_guard<std::mutex> lk(s.mutex);
            if (s.entries.contains(k)) mark_seen(s, k);
        }
    }
    {
        std::lock_guard<std::mutex> lk(wake_mutex_);
        done_ticket_ = generation;
        if (r.status != Status::ok) {
            failed_ticket_ = generation;
            failure_ = r.error;
        }
    }
    committed_.notify_all();
    return r;
}

void CachedGreyStore::apply_changes() {
    auto changes = backing_->changes_after(last_change_);
    if (changes.status != Status::ok) return;  // tried again at the next poll
    for (const auto& ch : changes.changes) {
        last_change_ = ch.id;
        std::optional<Row> row;
        std::optional<ClientRow> client_row;
        if (!ch.deleted) {
            if (ch.client) {
                auto c = backing_->client(ch.key, TimePoint{}, std::chrono::seconds(0));
                if (c.status == Status::tempfail) return;
                if (c.status == Status::ok) client_row = ClientRow{to_unix(c.client.last_seen), c.client.count};
            } else {
                auto e = backing_->get(ch.key);
                if (e.status == Status::tempfail) return;
                if (e.status == Status::ok)
                    row = Row{to_unix(e.entry.first_seen), to_unix(e.entry.last_seen), e.entry.count, e.entry.passed};
            }
        }
        auto& s = shard(ch.key);
        std::lock_guard<std::mutex> lk(s.mutex);
        if (ch.client) {
            // The other process's edit wins over an update of ours not yet written.
            if (s.dirty_clients.erase(ch.key) > 0) pending_.fetch_sub(1, std::memory_order_relaxed);
            if (client_row)
                s.clients[ch.key] = *client_row;
            else
                s.clients.erase(ch.key);
        } else {
            if (s.dirty_entries.erase(ch.key) > 0) pending_.fetch_sub(1, std::memory_order_relaxed);
            s.seen_entries.erase(ch.key);
            if (row)
                s.entries[ch.key] = *row;
            else
                s.entries.erase(ch.key);
        }
    }
}

void CachedGreyStore::writer() {
    auto next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
    auto next_seen = std::chrono::steady_clock::now() + options_.seen_flush_interval;
    for (;;) {
        bool stopping = false;
        {
            std::unique_lock<std::mutex> lk(wake_mutex_);
            wake_.wait_for(lk, options_.flush_interval, [&] {
                return stop_ || want_ticket_ > done_ticket_ || pending_.load(std::memory_order_relaxed) >= options_.flush_rows;
            });
            stopping = stop_;
        }
        std::lock_guard<std::mutex> lk(flush_mutex_);
        if (stopping || std::chrono::steady_clock::now() >= next_poll) {
            apply_changes();
            next_poll = std::chrono::steady_clock::now() + options_.poll_interval;
        }
        const bool with_seen = stopping || std::chrono::steady_clock::now() >= next_seen;
        if (with_seen) next_seen = std::chrono::steady_clock::now() + options_.seen_flush_interval;
        (void)flush_once(with_seen);
        if (stopping) return;
    }
}

}  // namespace mailmoat::store
