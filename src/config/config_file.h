/*
 * config_file: the daemon's YAML file, read and parsed once, then handed to each
 * section's reader (tg__config_read for the daemon's own keys, the notify sinks', MCP
 * over HTTP's, the proxy's), at start and at every reload. Before, each reader opened
 * and parsed the file itself: four times at start and five at a reload, and a file
 * changed between two reads could be half old, half new.
 */
#ifndef TG_CONFIG_CONFIG_FILE_H
#define TG_CONFIG_CONFIG_FILE_H

#include "tollgate.h"

struct fy_document;

typedef struct tg__config_file {
    char path[1024];              /* as given, for messages and the next reload */
    struct fy_document *document; /* owned: the parsed YAML, never NULL once open */
} tg__config_file;

/*
 * Reads and parses `path` (bounded, UTF-8 only, core/yaml_file.h). *out from malloc:
 * tg__config_file_close. TG_ERR_IO (the file), TG_ERR_INVALID (YAML syntax, with the
 * line and column), TG_ERR_NOMEM; the message starts with "config:".
 */
tg_status tg__config_file_open(const char *path, tg__config_file **out, tg_error *err);
/* NULL is a no-op. */
void tg__config_file_close(tg__config_file *file);

#endif
