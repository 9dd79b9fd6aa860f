/*
 * Streaming readers for the files `vchunk import` accepts (.jsonl, .csv, .fvecs, .npy): one
 * record at a time, in bounded memory, with the line or row of every problem in its message.
 */
#ifndef VC_CLI_INPUT_H
#define VC_CLI_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "vchunk/error.h"

/** Largest dimension any reader accepts (a guard against garbage headers). */
#define VC_INPUT_MAX_DIM 65536u

typedef enum vc_input_format {
	VC_INPUT_JSONL,
	VC_INPUT_CSV,
	VC_INPUT_FVECS,
	VC_INPUT_NPY,
} vc_input_format;

/**
 * One record. Every pointer is owned by the reader and stays valid until the
 * next vc_input_next() or vc_input_close(); callers copy what they keep.
 */
typedef struct vc_input_record {
	const char *id;	     /**< non-empty; row number ("0", "1", ...) for .fvecs/.npy */
	const float *vector; /**< dim finite floats */
	uint32_t dim;
	json_t *metadata; /**< borrowed; NULL when the record has none */
} vc_input_record;

typedef struct vc_input vc_input;

/**
 * The reader operations; each format implements them (input_<format>.c).
 * next returns VC_OK with *eof set at the end of the input.
 */
typedef struct vc_input_ops {
	vc_err (*open)(vc_input *input);
	vc_err (*next)(vc_input *input, vc_input_record *record, bool *eof);
	void (*close)(vc_input *input);
} vc_input_ops;

/** Reader state shared by every format; formats keep their own in @p priv. */
struct vc_input {
	const vc_input_ops *ops;
	vc_input_format format;
	char *path;
	FILE *file;
	uint64_t size;	   /**< file size in bytes (0 when not a regular file) */
	uint64_t position; /**< 1-based line (text) or 0-based row (binary) of the last record */
	uint64_t consumed; /**< bytes of the file the reader has used */
	uint32_t dim;	   /**< fixed by the first record; 0 before */
	void *priv;
};

/** Format of @p path from its extension (case-insensitive); VC_ERR_INVALID if unknown. */
vc_err vc_input_format_from_path(const char *path, vc_input_format *out);

/** Name of a format ("jsonl", "csv", "fvecs", "npy"). */
const char *vc_input_format_name(vc_input_format format);

/** Open @p path as the format its extension names. The caller owns *out. */
vc_err vc_input_open(const char *path, vc_input **out);

/** Open @p path as @p format regardless of its name. */
vc_err vc_input_open_format(const char *path, vc_input_format format, vc_input **out);

/**
 * Read the next record. Errors (VC_ERR_INVALID for bad data, VC_ERR_IO for a
 * read failure) carry a message "FILE:LINE: ..." or "FILE: row N: ...".
 * After an error the reader should only be closed.
 */
vc_err vc_input_next(vc_input *input, vc_input_record *record, bool *eof);

/** Where the last record came from, for messages: "FILE:17" or "FILE: row 17". */
void vc_input_where(const vc_input *input, char *buf, size_t size);

/** Bytes consumed so far (for progress), and the total (0 if unknown). */
uint64_t vc_input_offset(const vc_input *input);

/** Close and free (NULL-safe). */
void vc_input_close(vc_input *input);

/* ---- helpers shared by the readers (input.c) ---- */

/** Record "FILE:LINE: message" (text) or "FILE: row N: message" (binary) and return @p err. */
vc_err vc_input_fail(const vc_input *input, vc_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Check that @p dim matches the input's dimension, fixing it on the first record. */
vc_err vc_input_check_dim(vc_input *input, uint32_t dim);

/** Check every value is finite; names the first bad index. */
vc_err vc_input_check_finite(const vc_input *input, const float *vector, uint32_t dim);

/** A growable float buffer readers reuse between records. */
typedef struct vc_float_buf {
	float *data;
	size_t len;
	size_t cap;
} vc_float_buf;

vc_err vc_float_buf_push(vc_float_buf *buf, float value);
vc_err vc_float_buf_reserve(vc_float_buf *buf, size_t count);
void vc_float_buf_free(vc_float_buf *buf);

/** Longest line the text readers accept (a guard against files without newlines). */
#define VC_INPUT_MAX_LINE (256u * 1024u * 1024u)

/** Buffered line splitting for the text formats; handles embedded NUL and CRLF. */
typedef struct vc_line_reader {
	char *buf;
	size_t cap;
	size_t start; /**< first unread byte */
	size_t end;   /**< bytes held */
	bool at_eof;
} vc_line_reader;

/**
 * The next line without its terminator ("\n" or "\r\n"), NUL-terminated
 * in place (the buffer is the reader's until the next call). Advances
 * input->position and input->consumed. *eof at the end of the file.
 */
vc_err vc_line_next(vc_input *input, vc_line_reader *reader, char **line, size_t *len, bool *eof);
void vc_line_reader_free(vc_line_reader *reader);

/** Read exactly @p len bytes; *got says how many arrived before the end of the file. */
vc_err vc_input_read_exact(vc_input *input, void *buf, size_t len, size_t *got);

extern const vc_input_ops vc_input_jsonl_ops;
extern const vc_input_ops vc_input_csv_ops;
extern const vc_input_ops vc_input_fvecs_ops;
extern const vc_input_ops vc_input_npy_ops;

#endif
