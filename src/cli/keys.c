/*
 * keys: `tollgate keys create|list|revoke|rotate`. Keys live with the ledger:
 * these commands ask the daemon (POST/GET/DELETE /v1/keys, an admin key), which
 * makes the secret, shows it once and keeps only its SHA-256; a change holds at
 * once on every connection. Keys in the config file's keys: list are still
 * read: `list` shows them, and with --config FILE the commands work on the file
 * instead (create --print-yaml prints an entry for it, revoke removes one), to
 * be applied with `tollgate reload`.
 *
 * Options are strict: an unknown one or an extra argument is a usage error
 * (exit 2) that names the closest valid option.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/rand.h>

#include "core/hex.h"
#include "cli/cli.h"
#include "cli/remote.h"
#include "config/config.h"

#define CONFIG_SIZE_MAX (16 * 1024 * 1024) /* a config file larger than this is refused */

static const char usage[] =
    "usage: tollgate keys create NAME --role admin|agent|read|metrics [--scope PATH]\n"
    "                            [--class-max low|normal|high|critical] [--json]\n"
    "       tollgate keys create NAME --role ROLE [--scope PATH] [--class-max C] --print-yaml\n"
    "       tollgate keys list [--json] | tollgate keys list --config FILE [--json]\n"
    "       tollgate keys revoke NAME | tollgate keys revoke NAME --config FILE [--dry-run]\n"
    "       tollgate keys rotate NAME [--json]\n"
    "       (the daemon: --url URL or TOLLGATE_URL, --key KEY or TOLLGATE_KEY, an admin key)\n"
    "\n"
    "Keys are kept with the ledger as SHA-256 hashes only; the secret is shown once, by\n"
    "create and rotate, and never stored. A change holds at once on every connection,\n"
    "event streams included. An admin key may do anything; an agent key holds, commits,\n"
    "releases and reads inside its --scope subtree, its work never above --class-max\n"
    "(default normal: the policy may lower it, never raise it past that); a read key\n"
    "reads everything; a metrics key reads /metrics only.\n"
    "\n"
    "  create   makes a key in the daemon and prints its secret (once)\n"
    "  list     every key the daemon accepts: made here, in the config file, or\n"
    "           TOLLGATE_ADMIN_KEY (name, role, scope, class_max, where from)\n"
    "  revoke   the key stops working at once\n"
    "  rotate   a new secret for the key; the old one stops working at once\n"
    "  --print-yaml   create prints a config entry instead (no daemon needed)\n"
    "  --config FILE  list or revoke the keys of the config file's keys: list; apply a\n"
    "                 change with `tollgate reload`\n"
    "\n"
    "examples:\n"
    "  tollgate keys create support-bot --role agent --scope team/support-agent\n"
    "  tollgate keys list\n"
    "  tollgate keys rotate support-bot\n"
    "  tollgate keys revoke support-bot\n";

/* The command line, read strictly. */
typedef struct {
    const char *verb;
    const char *name;
    const char *role, *scope, *class_max;
    const char *config;
    const char *url, *key;
    bool json, dry_run, print_yaml;
} keys_args;

static const char *const value_options[] = {"--role", "--scope", "--class-max", "--config",
                                            "--url",  "--key",   NULL};
static const char *const flag_options[] = {"--json", "--dry-run", "--print-yaml", "--help", NULL};

/* Edit distance, for the closest valid option to a misspelled one. */
static size_t distance(const char *a, const char *b) {
    size_t row[64];
    size_t length_b = strlen(b) < 63 ? strlen(b) : 63;
    for (size_t j = 0; j <= length_b; j++) {
        row[j] = j;
    }
    for (size_t i = 1; a[i - 1] != '\0' && i < 64; i++) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= length_b; j++) {
            size_t above = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            size_t best = diagonal + cost;
            best = row[j] + 1 < best ? row[j] + 1 : best;
            best = row[j - 1] + 1 < best ? row[j - 1] + 1 : best;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[length_b];
}

/* Says what is wrong (and the closest valid option to `option`, when one is near), then the
 * usage. Exit code 2. */
static int usage_error(const char *message, const char *option) {
    fprintf(stderr, "tollgate keys: %s", message);
    const char *closest = NULL;
    size_t best = 4; /* farther than 3 edits is no suggestion */
    const char *const *lists[] = {value_options, flag_options};
    for (int l = 0; option != NULL && l < 2; l++) {
        for (int i = 0; lists[l][i] != NULL; i++) {
            size_t d = distance(option, lists[l][i]);
            if (d < best) {
                best = d;
                closest = lists[l][i];
            }
        }
    }
    if (closest != NULL) {
        fprintf(stderr, " (did you mean %s?)", closest);
    }
    fprintf(stderr, "\n%s", usage);
    return TG__EXIT_USAGE;
}

/* The same with one word put into the message ("%s"). */
static int usage_error_with(const char *format, const char *word, const char *option) {
    char message[256];
    snprintf(message, sizeof message, format, word);
    return usage_error(message, option);
}

static const char **value_slot(keys_args *a, const char *option) {
    const char **slots[] = {&a->role, &a->scope, &a->class_max, &a->config, &a->url, &a->key};
    for (int i = 0; value_options[i] != NULL; i++) {
        if (strcmp(option, value_options[i]) == 0) {
            return slots[i];
        }
    }
    return NULL;
}

/* 0 when the line is read; otherwise an exit code (a usage error, or --help: 0 after printing,
 * told by *done). */
static int parse(int argc, char **argv, keys_args *a, bool *done) {
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i];
        const char **slot = value_slot(a, word);
        if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
            fputs(usage, stdout);
            *done = true;
            return TG__EXIT_OK;
        } else if (slot != NULL) {
            if (i + 1 >= argc) {
                return usage_error_with("%s needs a value", word, NULL);
            }
            *slot = argv[++i];
        } else if (strcmp(word, "--json") == 0) {
            a->json = true;
        } else if (strcmp(word, "--dry-run") == 0) {
            a->dry_run = true;
        } else if (strcmp(word, "--print-yaml") == 0) {
            a->print_yaml = true;
        } else if (word[0] == '-') {
            return usage_error_with("unknown option '%s'", word, word);
        } else if (a->verb == NULL) {
            a->verb = word;
        } else if (a->name == NULL) {
            a->name = word;
        } else {
            return usage_error_with("one key name at a time: '%s' is one too many", word, NULL);
        }
    }
    return TG__EXIT_OK;
}

/* ---- the daemon's answers ------------------------------------------------------------------- */

static int exit_code(long status) {
    return status < 0                      ? TG__EXIT_FAILURE
           : status == 200                 ? TG__EXIT_OK
           : status >= 400 && status < 500 ? TG__EXIT_REJECTED
                                           : TG__EXIT_FAILURE;
}

static long ask(const keys_args *a, const char *method, const char *path, json_t *body,
                json_t **answer) {
    tg__remote remote;
    tg__remote_init(&remote, a->url, a->key, false);
    *answer = NULL;
    long status = tg__remote_call_once(&remote, method, path, body, answer);
    if (status >= 0 && status != 200) {
        json_t *error = json_object_get(*answer, "error");
        const char *code = json_string_value(json_object_get(error, "code"));
        const char *message = json_string_value(json_object_get(error, "message"));
        fprintf(stderr, "tollgate keys: %ld %s: %s\n", status, code ? code : "error",
                message ? message : "(no JSON answer)");
    }
    return status;
}

static void print_json(json_t *value) {
    char *text = json_dumps(value, JSON_INDENT(2));
    printf("%s\n", text ? text : "null");
    free(text);
}

static const char *text_of(json_t *object, const char *name) {
    const char *text = json_string_value(json_object_get(object, name));
    return text != NULL ? text : "";
}

static void print_key_line(json_t *key) {
    const char *scope = text_of(key, "scope");
    printf("%-24s %-8s %-8s %-32s %-7s %s\n", text_of(key, "name"), text_of(key, "role"),
           text_of(key, "class_max"), scope[0] ? scope : "(all)", text_of(key, "source"),
           text_of(key, "sha256_prefix"));
}

static int with_secret(const keys_args *a, long status, json_t *answer) {
    if (status == 200 && a->json) {
        print_json(answer);
    } else if (status == 200) {
        printf("secret: %s\n"
               "# shown once: the daemon keeps only its SHA-256. Give it to the agent as\n"
               "#   Authorization: Bearer <secret>\n",
               text_of(answer, "secret"));
        print_key_line(answer);
    }
    json_decref(answer);
    return exit_code(status);
}

static int create_remote(const keys_args *a) {
    json_t *body = json_pack("{s:s,s:s}", "name", a->name, "role", a->role);
    if (a->scope != NULL) {
        json_object_set_new(body, "scope", json_string(a->scope));
    }
    if (a->class_max != NULL) {
        json_object_set_new(body, "class_max", json_string(a->class_max));
    }
    json_t *answer = NULL;
    long status = ask(a, "POST", "/v1/keys", body, &answer);
    json_decref(body);
    return with_secret(a, status, answer);
}

static int list_remote(const keys_args *a) {
    json_t *answer = NULL;
    long status = ask(a, "GET", "/v1/keys", NULL, &answer);
    if (status == 200 && a->json) {
        print_json(json_object_get(answer, "keys"));
    } else if (status == 200) {
        printf("%-24s %-8s %-8s %-32s %-7s %s\n", "NAME", "ROLE", "CLASS", "SCOPE", "FROM",
               "SHA256");
        size_t i;
        json_t *key;
        json_array_foreach(json_object_get(answer, "keys"), i, key) {
            print_key_line(key);
        }
    }
    json_decref(answer);
    return exit_code(status);
}

static int change_remote(const keys_args *a, bool rotate) {
    char path[256];
    snprintf(path, sizeof path, "/v1/keys/%s%s", a->name, rotate ? "/rotate" : "");
    json_t *answer = NULL;
    long status = ask(a, rotate ? "POST" : "DELETE", path, NULL, &answer);
    if (rotate) {
        return with_secret(a, status, answer);
    }
    if (status == 200) {
        if (a->json) {
            print_json(answer);
        } else {
            printf("revoked %s: it is refused from now on, on every connection\n", a->name);
        }
    }
    json_decref(answer);
    return exit_code(status);
}

/* ---- the config file ------------------------------------------------------------------------ */

/* Prints a secret and the entry to paste under keys:, as `keys create` did before keys had a
 * home in the ledger: for files kept in version control. */
static int print_yaml(const keys_args *a) {
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
    tg__hex_encode(hash, TG__SHA256_SIZE, hex);
    printf("secret: %s\n# add under keys: in the config, then run `tollgate reload`\n"
           "  - {name: %s, role: %s, scope: \"%s\"%s%s, sha256: %s}\n",
           secret, a->name, a->role, a->scope ? a->scope : "", a->class_max ? ", class_max: " : "",
           a->class_max ? a->class_max : "", hex);
    return TG__EXIT_OK;
}

/* Reads the config; on failure says why and returns NULL. From malloc; caller frees. */
static tg__config *load(const char *file) {
    tg__config *config = NULL;
    tg_error err = {0};
    if (tg__config_new(file, &config, &err) != TG_OK) {
        fprintf(stderr, "tollgate keys: %s\n", err.message);
    }
    return config;
}

static int list_file(const char *file, bool json) {
    tg__config *config = load(file);
    if (config == NULL) {
        return TG__EXIT_FAILURE;
    }
    json_t *keys = json_array();
    if (!json) {
        printf("%-24s %-8s %-8s %-40s %s\n", "NAME", "ROLE", "CLASS", "SCOPE", "SHA256");
    }
    for (int i = 0; i < config->keys_count; i++) {
        const tg__key *key = &config->keys[i];
        char hex[65];
        tg__hex_encode(key->sha256, sizeof key->sha256, hex);
        if (json) {
            json_array_append_new(keys, json_pack("{s:s,s:s,s:s,s:s,s:s}", "name", key->name,
                                                  "role", tg__role_str(key->role), "scope",
                                                  key->scope, "class_max",
                                                  tg_class_str(key->class_max), "sha256", hex));
        } else {
            printf("%-24s %-8s %-8s %-40s %.12s...\n", key->name, tg__role_str(key->role),
                   tg_class_str(key->class_max), key->scope[0] ? key->scope : "(all)", hex);
        }
    }
    if (json) {
        print_json(keys);
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

/* The hex hash of the one key of that name in the file; false (said on stderr) otherwise. */
static bool file_key_hash(const char *file, const char *name, char hex[65]) {
    tg__config *config = load(file);
    if (config == NULL) {
        return false;
    }
    int matches = 0;
    for (int i = 0; i < config->keys_count; i++) {
        if (strcmp(config->keys[i].name, name) == 0) {
            matches++;
            tg__hex_encode(config->keys[i].sha256, sizeof config->keys[i].sha256, hex);
        }
    }
    free(config);
    if (matches != 1) {
        fprintf(stderr, "tollgate keys revoke: %s names %s key '%s'\n", file,
                matches ? "more than one" : "no", name);
    }
    return matches == 1;
}

static int revoke_file(const char *file, const char *name, bool dry_run) {
    char hex[65] = "";
    if (!file_key_hash(file, name, hex)) {
        return TG__EXIT_REJECTED;
    }
    size_t size = 0, start = 0, end = 0;
    char *text = read_file(file, &size);
    long line = text ? line_with(text, hex, &start, &end) : -1;
    if (line < 0 || !whole_entry(text + start, end - start)) {
        printf("remove the entry of key '%s' (sha256: %s) from the keys: list of %s by hand,\n"
               "then run `tollgate reload`\n",
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
        printf("now run `tollgate reload` (the daemon applies the file all or nothing)\n");
    }
    free(text);
    return TG__EXIT_OK;
}

/* ---- the verbs ------------------------------------------------------------------------------ */

/* Which options each verb takes; anything else is a usage error. */
static int check_options(const keys_args *a) {
    bool create = strcmp(a->verb, "create") == 0;
    bool file = a->config != NULL;
    if (!create && (a->role || a->scope || a->class_max || a->print_yaml)) {
        return usage_error("--role, --scope, --class-max and --print-yaml are for create", NULL);
    }
    if (a->dry_run && !(file && strcmp(a->verb, "revoke") == 0)) {
        return usage_error("--dry-run is for revoke --config FILE", NULL);
    }
    if (file && strcmp(a->verb, "list") != 0 && strcmp(a->verb, "revoke") != 0) {
        return usage_error("--config is for list and revoke (create: --print-yaml)", NULL);
    }
    if (create && a->role == NULL) {
        return usage_error("create needs --role admin, agent, read or metrics", NULL);
    }
    if (strcmp(a->verb, "list") == 0 && a->name != NULL) {
        return usage_error_with("list takes no key name ('%s')", a->name, NULL);
    }
    if (strcmp(a->verb, "list") != 0 && a->name == NULL) {
        return usage_error_with("%s needs a key name", a->verb, NULL);
    }
    return TG__EXIT_OK;
}

int tg__cli_keys(int argc, char **argv) {
    keys_args a;
    memset(&a, 0, sizeof a);
    bool done = false;
    int code = parse(argc - 1, argv + 1, &a, &done);
    if (done || code != TG__EXIT_OK) {
        return code;
    }
    static const char *const verbs[] = {"create", "list", "revoke", "rotate", NULL};
    bool known = false;
    for (int i = 0; a.verb != NULL && verbs[i] != NULL; i++) {
        known = known || strcmp(a.verb, verbs[i]) == 0;
    }
    if (!known) {
        return a.verb != NULL
                   ? usage_error_with("unknown verb '%s': create, list, revoke or rotate", a.verb,
                                      NULL)
                   : usage_error("create, list, revoke or rotate?", NULL);
    }
    if ((code = check_options(&a)) != TG__EXIT_OK) {
        return code;
    }
    if (strcmp(a.verb, "create") == 0) {
        return a.print_yaml ? print_yaml(&a) : create_remote(&a);
    }
    if (strcmp(a.verb, "list") == 0) {
        return a.config ? list_file(a.config, a.json) : list_remote(&a);
    }
    if (strcmp(a.verb, "revoke") == 0) {
        return a.config ? revoke_file(a.config, a.name, a.dry_run) : change_remote(&a, false);
    }
    return change_remote(&a, true);
}
