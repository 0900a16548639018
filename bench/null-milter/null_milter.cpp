// bench/null-milter/null_milter.cpp - baseline milter written directly on libmilter, as stock milters are.
/* Usage: mailmoat-null-milter SOCKET [add-header] [headers] [full]
 *   SOCKET      libmilter spelling: unix:/path or inet:port@host
 *   add-header  add "X-Null: 1" at end of message (shows libmilter's small-packet replies over TCP)
 *   headers     also register the header callback (the MTA then sends every header)
 *   full        register every message callback (connect, helo, envfrom, envrcpt, header, eoh, body, eom),
 *               each returning continue: the MTA sends the whole message, as it does to a DKIM or DMARC
 *               milter, so the baseline does the same protocol work as the milter it is compared with
 * By default only the end-of-message callback is registered, so the MTA skips every other event.
 * libmilter's own signal thread handles SIGTERM/SIGINT/SIGHUP (all stop it). */
#include <libmilter/mfapi.h>
#include <cstdio>
#include <cstring>

static int add_header = 0;  // NOLINT: libmilter callbacks carry no user data

extern "C" sfsistat null_header(SMFICTX *, char *, char *)
{
    return SMFIS_CONTINUE;
}

extern "C" sfsistat null_connect(SMFICTX *, char *, _SOCK_ADDR *)
{
    return SMFIS_CONTINUE;
}

extern "C" sfsistat null_helo(SMFICTX *, char *)
{
    return SMFIS_CONTINUE;
}

extern "C" sfsistat null_envelope(SMFICTX *, char **)
{
    return SMFIS_CONTINUE;
}

extern "C" sfsistat null_eoh(SMFICTX *)
{
    return SMFIS_CONTINUE;
}

extern "C" sfsistat null_body(SMFICTX *, unsigned char *, size_t)
{
    return SMFIS_CONTINUE;
}

extern "C" sfsistat null_eom(SMFICTX *ctx)
{
    if (add_header && smfi_addheader(ctx, const_cast<char*>("X-Null"), const_cast<char*>("1")) != MI_SUCCESS)
        return SMFIS_TEMPFAIL;
    return SMFIS_CONTINUE;
}

int main(int argc, char **argv)
{
    struct smfiDesc desc;

    int headers = 0;
    int full = 0;
    if (argc < 2 || argc > 5) {
        fprintf(stderr, "usage: %s SOCKET [add-header] [headers] [full]\n", argv[0]);
        return 64;
    }
    for (int i = 2; i < argc; ++i) {
        if (strcmp(argv[i], "add-header") == 0) {
            add_header = 1;
        } else if (strcmp(argv[i], "headers") == 0) {
            headers = 1;
        } else if (strcmp(argv[i], "full") == 0) {
            full = 1;
        } else {
            fprintf(stderr, "usage: %s SOCKET [add-header] [headers] [full]\n", argv[0]);
            return 64;
        }
    }
    memset(&desc, 0, sizeof desc);
    desc.xxfi_name = const_cast<char*>("mailmoat-null-milter");
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = add_header ? SMFIF_ADDHDRS : 0;
    desc.xxfi_eom = null_eom;
    if (headers || full)
        desc.xxfi_header = null_header;
    if (full) {
        desc.xxfi_connect = null_connect;
        desc.xxfi_helo = null_helo;
        desc.xxfi_envfrom = null_envelope;
        desc.xxfi_envrcpt = null_envelope;
        desc.xxfi_eoh = null_eoh;
        desc.xxfi_body = null_body;
    }
    if (smfi_register(desc) != MI_SUCCESS || smfi_setconn(argv[1]) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "%s: cannot listen on %s\n", argv[0], argv[1]);
        return 71;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
