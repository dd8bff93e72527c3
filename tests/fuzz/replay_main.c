/*
 * replay_main: runs a libFuzzer target over every file of a corpus folder, so
 * the corpora checked into tests/fuzz/corpus/ are replayed by the normal test
 * run (with sanitizers in CI) without needing libFuzzer itself.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_FILE_SIZE_MAX (4 * 1024 * 1024)

static int replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        return 1;
    }
    uint8_t *data = malloc(REPLAY_FILE_SIZE_MAX);
    if (data == NULL) {
        fclose(f);
        return 1;
    }
    size_t size = fread(data, 1, REPLAY_FILE_SIZE_MAX, f);
    fclose(f);
    /* Copy into an exact-size buffer so ASan sees reads past the end. */
    uint8_t *exact = malloc(size ? size : 1);
    if (exact == NULL) {
        free(data);
        return 1;
    }
    memcpy(exact, data, size);
    free(data);
    LLVMFuzzerTestOneInput(exact, size);
    free(exact);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *dir = opendir(argv[1]);
    if (dir == NULL) {
        fprintf(stderr, "replay: cannot open folder %s\n", argv[1]);
        return 1;
    }
    int files = 0, failures = 0;
    struct dirent *entry;
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], entry->d_name);
        failures += replay_file(path);
        files++;
    }
    closedir(dir);
    printf("replayed %d corpus files from %s\n", files, argv[1]);
    if (files == 0) {
        fprintf(stderr, "replay: corpus %s is empty\n", argv[1]);
        return 1;
    }
    return failures ? 1 : 0;
}
