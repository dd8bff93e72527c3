/*
 * keys: `tollgate keys create|list|revoke`. Keys live in the config file's
 * `keys:` list as SHA-256 hashes only, so these commands work on the file, not
 * the daemon: create prints a secret and the line to add, list reads the file,
 * revoke removes the key's line (or says which one to remove). The daemon picks
 * up a change on SIGHUP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "cli/cli.h"
#include "server/server.h"

#define CONFIG_SIZE_MAX (16 * 1024 * 1024) /* a config file larger than this is refused */

static const char usage[] =
    "usage: tollgate keys create NAME --role admin|agent|read [--scope PATH]\n"
    "       tollgate keys list [--config FILE] [--json]\n"
    "       tollgate keys revoke NAME [--config FILE] [--dry-run]\n"
    "\n"
    "Bearer keys live in the config file's keys: list, as SHA-256 hashes only; the\n"
    "secret is shown once, by create, and never stored. An admin key may do anything;\n"
    "an agent key holds, commits, releases and reads inside its --scope subtree; a\n"
    "read key reads everything. The daemon applies the file on SIGHUP.\n"
    "\n"
    "  create   prints a new secret and the line to paste under keys:\n"
    "  list     prints the keys the file declares (name, role, scope, hash prefix)\n"
    "  revoke   removes the key's line from the file (the one `create` printed), or,\n"
    "           when the entry spans several lines, prints what to delete;\n"
    "           --dry-run only prints. Then: kill -HUP $(pidof tollgate)\n"
    "\n"
    "examples:\n"
    "  tollgate keys create support-bot --role agent --scope team/support-agent\n"
    "  tollgate keys list --config examples/tollgate.yaml\n"
    "  tollgate keys revoke support-bot --config examples/tollgate.yaml\n";

static const char *const role_names[] = {"admin", "agent", "read"};

static int create_key(int argc, char **argv) {
    const char *name = NULL;
    const char *role = "agent";
    const char *scope = "";
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc) {
            role = argv[++i];
        } else if (strcmp(argv[i], "--scope") == 0 && i + 1 < argc) {
            scope = argv[++i];
        } else if (argv[i][0] != '-' && name == NULL) {
            name = argv[i];
        } else {
            fputs(usage, stderr);
            return TG__EXIT_USAGE;
        }
    }
    if (name == NULL || (strcmp(role, "admin") && strcmp(role, "agent") && strcmp(role, "read"))) {
        fputs(usage, stderr);
        return TG__EXIT_USAGE;
    }
    unsigned char random[24];
    if (RAND_bytes(random, sizeof random) != 1) {
        fputs("tollgate: no randomness available\n", stderr);
        return TG__EXIT_FAILURE;
    }
    char secret[64] = "tg_";
    for (size_t i = 0; i < sizeof random; i++) {
        snprintf(secret + 3 + 2 * i, 3, "%02x", random[i]);
    }
    unsigned char hash[TG__SHA256_SIZE];
    char hex[65];
    tg__key_hash(secret, hash);
    tg__hex_encode(hash, hex);
    printf("secret: %s\n# add under keys: in the config, then send SIGHUP\n"
           "  - {name: %s, role: %s, scope: \"%s\", sha256: %s}\n",
           secret, name, role, scope, hex);
    return TG__EXIT_OK;
}

/* Reads the config; on failure says why and returns NULL. From malloc; caller frees. */
static tg__config *load(const char *file) {
    tg__config *config = malloc(sizeof *config);
    tg_error err = {0};
    if (config == NULL) {
        return NULL;
    }
    tg__config_defaults(config);
    if (tg__config_load(file, config, &err) != TG_OK) {
        fprintf(stderr, "tollgate keys: %s\n", err.message);
        free(config);
        return NULL;
    }
    return config;
}

static int list_keys(const char *file, bool json) {
    tg__config *config = load(file);
    if (config == NULL) {
        return TG__EXIT_FAILURE;
    }
    json_t *keys = json_array();
    if (!json) {
        printf("%-24s %-6s %-40s %s\n", "NAME", "ROLE", "SCOPE", "SHA256");
    }
    for (int i = 0; i < config->keys_count; i++) {
        const tg__key *key = &config->keys[i];
        char hex[65];
        tg__hex_encode(key->sha256, hex);
        if (json) {
            json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s}", "name", key->name, "role",
                                                  role_names[key->role], "scope", key->scope,
                                                  "sha256", hex));
        } else {
            printf("%-24s %-6s %-40s %.12s...\n", key->name, role_names[key->role],
                   key->scope[0] ? key->scope : "(all)", hex);
        }
    }
    if (json) {
        char *text = json_dumps(keys, JSON_INDENT(2));
        printf("%s\n", text ? text : "[]");
        free(text);
    } else if (getenv("TOLLGATE_ADMIN_KEY") != NULL) {
        printf("(and the admin key in TOLLGATE_ADMIN_KEY, which is not in the file)\n");
    }
    json_decref(keys);
    free(config);
    return TG__EXIT_OK;
}

/* The whole file, NUL-terminated; from malloc. */
static char *read_file(const char *file, size_t *size_out) {
    FILE *in = fopen(file, "rb");
    if (in == NULL) {
        return NULL;
    }
    char *text = malloc(CONFIG_SIZE_MAX + 1);
    size_t size = text ? fread(text, 1, CONFIG_SIZE_MAX + 1, in) : 0;
    fclose(in);
    if (text == NULL || size > CONFIG_SIZE_MAX) {
        free(text);
        return NULL;
    }
    text[size] = '\0';
    *size_out = size;
    return text;
}

/* Finds the one line holding `needle` (case-insensitive); -1 when none, -2 when several. */
static long line_with(char *text, const char *needle, size_t *start, size_t *end) {
    long found = -1;
    size_t line_start = 0;
    for (long line = 1; text[line_start] != '\0'; line++) {
        size_t length = strcspn(text + line_start, "\n");
        char saved = text[line_start + length];
        text[line_start + length] = '\0';
        bool hit = strcasestr(text + line_start, needle) != NULL;
        text[line_start + length] = saved;
        if (hit) {
            if (found != -1) {
                return -2;
            }
            found = line;
            *start = line_start;
            *end = line_start + length + (saved == '\n');
        }
        line_start += length + (saved == '\n');
    }
    return found;
}

/* True when the line is a whole one-line list entry: "  - {...}" (a comment may follow). */
static bool whole_entry(const char *line, size_t length) {
    size_t i = strspn(line, " \t");
    if (i + 2 >= length || line[i] != '-' || (line[i + 1] != ' ' && line[i + 1] != '\t')) {
        return false;
    }
    i += 1 + strspn(line + i + 1, " \t");
    const char *close = memchr(line + i, '}', length - i);
    if (line[i] != '{' || close == NULL) {
        return false;
    }
    size_t after = (size_t)(close - line) + 1;
    after += strspn(line + after, " \t\r");
    return after >= length || line[after] == '\n' || line[after] == '#';
}

/* Writes text over file atomically (a temp file renamed over it), keeping its mode. */
static bool replace_file(const char *file, const char *text, size_t size) {
    char temp[4096];
    struct stat info;
    if (stat(file, &info) != 0 || snprintf(temp, sizeof temp, "%s.tmp", file) >= (int)sizeof temp) {
        return false;
    }
    FILE *out = fopen(temp, "wb");
    if (out == NULL) {
        return false;
    }
    bool ok = fwrite(text, 1, size, out) == size && fflush(out) == 0 && fsync(fileno(out)) == 0;
    ok =
        fclose(out) == 0 && ok && chmod(temp, info.st_mode & 07777) == 0 && rename(temp, file) == 0;
    if (!ok) {
        unlink(temp);
    }
    return ok;
}

static int revoke_key(const char *file, const char *name, bool dry_run) {
    tg__config *config = load(file);
    if (config == NULL) {
        return TG__EXIT_FAILURE;
    }
    int matches = 0;
    char hex[65] = "";
    for (int i = 0; i < config->keys_count; i++) {
        if (strcmp(config->keys[i].name, name) == 0) {
            matches++;
            tg__hex_encode(config->keys[i].sha256, hex);
        }
    }
    free(config);
    if (matches != 1) {
        fprintf(stderr, "tollgate keys revoke: %s names %s key '%s'\n", file,
                matches ? "more than one" : "no", name);
        return TG__EXIT_REJECTED;
    }
    size_t size = 0, start = 0, end = 0;
    char *text = read_file(file, &size);
    long line = text ? line_with(text, hex, &start, &end) : -1;
    if (line < 0 || !whole_entry(text + start, end - start)) {
        printf("remove the entry of key '%s' (sha256: %s) from the keys: list of %s by hand,\n"
               "then send SIGHUP to the daemon: kill -HUP $(pidof tollgate)\n",
               name, hex, file);
        free(text);
        return dry_run ? TG__EXIT_OK : TG__EXIT_REJECTED;
    }
    printf("%s %s line %ld: %.*s", dry_run ? "would remove from" : "removed from", file, line,
           (int)(end - start), text + start);
    if (text[end - 1] != '\n') {
        putchar('\n');
    }
    if (!dry_run) {
        memmove(text + start, text + end, size - end + 1);
        if (!replace_file(file, text, size - (end - start))) {
            fprintf(stderr, "tollgate keys revoke: cannot rewrite %s\n", file);
            free(text);
            return TG__EXIT_FAILURE;
        }
        printf("now send SIGHUP to the daemon: kill -HUP $(pidof tollgate)\n");
    }
    free(text);
    return TG__EXIT_OK;
}

int tg__cli_keys(int argc, char **argv) {
    const char *verb = argc > 1 ? argv[1] : "";
    if (strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0) {
        fputs(usage, stdout);
        return TG__EXIT_OK;
    }
    if (strcmp(verb, "create") == 0) {
        return create_key(argc - 2, argv + 2);
    }
    const char *file = "tollgate.yaml";
    const char *name = NULL;
    bool json = false, dry_run = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return TG__EXIT_OK;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            file = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
        } else if (argv[i][0] != '-' && name == NULL) {
            name = argv[i];
        } else {
            fputs(usage, stderr);
            return TG__EXIT_USAGE;
        }
    }
    if (strcmp(verb, "list") == 0 && name == NULL) {
        return list_keys(file, json);
    }
    if (strcmp(verb, "revoke") == 0 && name != NULL) {
        return revoke_key(file, name, dry_run);
    }
    fputs(usage, stderr);
    return TG__EXIT_USAGE;
}
