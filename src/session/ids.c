/* Vector ids: what a valid id is, and the set of ids a writer has seen (to refuse duplicates
 * with bounded memory: the strings live in a bump arena, the table holds hashes and pointers). */
#include <stdlib.h>
#include <string.h>

#include "session/session_i.h"
#include "util/error_i.h"

#define ARENA_BLOCK (256u * 1024u)

struct vc_id_block {
	struct vc_id_block *next;
	size_t used;
	size_t size;
	char data[];
};

/* Length of the UTF-8 sequence starting at @p s (0 if it is not valid) and its code point. */
static size_t utf8_decode(const unsigned char *s, size_t left, uint32_t *cp)
{
	size_t len;
	uint32_t min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		len = 2;
		min = 0x80;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		min = 0x800;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		len = 4;
		min = 0x10000;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (left < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and values past Unicode are not text. */
	if (*cp < min || (*cp >= 0xd800 && *cp <= 0xdfff) || *cp > 0x10ffff)
		return 0;
	return len;
}

vc_err vc_id_check(const char *id)
{
	const unsigned char *s = (const unsigned char *)id;
	size_t len;

	if (id == NULL || id[0] == '\0')
		return vc_fail(VC_ERR_INVALID, "a vector has an empty id");
	len = strlen(id);
	if (len > VC_ID_MAX_BYTES)
		return vc_fail(VC_ERR_INVALID, "id '%.40s...' is %zu bytes long; the limit is %u",
			       id, len, VC_ID_MAX_BYTES);
	for (size_t i = 0; i < len;) {
		uint32_t cp = 0;
		size_t n = utf8_decode(s + i, len - i, &cp);

		if (n == 0)
			return vc_fail(VC_ERR_INVALID,
				       "an id is not valid UTF-8 (bad byte 0x%02x at offset %zu)",
				       s[i], i);
		if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
			return vc_fail(VC_ERR_INVALID,
				       "an id holds control character U+%04X at offset %zu", cp, i);
		i += n;
	}
	return VC_OK;
}

/* FNV-1a with a final avalanche; never 0, which marks an empty slot. */
static uint64_t id_hash(const char *id)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++) {
		h ^= *p;
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h | 1;
}

static char *arena_copy(vc_id_set *set, const char *id)
{
	size_t need = strlen(id) + 1;
	struct vc_id_block *block = set->blocks;
	char *copy;

	if (block == NULL || block->size - block->used < need) {
		size_t size = need > ARENA_BLOCK ? need : ARENA_BLOCK;

		block = malloc(sizeof(*block) + size);
		if (block == NULL)
			return NULL;
		block->next = set->blocks;
		block->used = 0;
		block->size = size;
		set->blocks = block;
	}
	copy = block->data + block->used;
	memcpy(copy, id, need);
	block->used += need;
	return copy;
}

static size_t find_slot(const vc_id_set *set, const char *id, uint64_t hash)
{
	size_t mask = set->cap - 1;
	size_t i = hash & mask;

	while (set->hashes[i] != 0 && (set->hashes[i] != hash || strcmp(set->keys[i], id) != 0))
		i = (i + 1) & mask;
	return i;
}

static vc_err grow(vc_id_set *set)
{
	size_t cap = set->cap ? set->cap * 2 : 1024;
	vc_id_set bigger = *set;

	bigger.cap = cap;
	bigger.hashes = calloc(cap, sizeof(uint64_t));
	bigger.keys = calloc(cap, sizeof(char *));
	if (bigger.hashes == NULL || bigger.keys == NULL) {
		free(bigger.hashes);
		free(bigger.keys);
		return vc_fail(VC_ERR_NOMEM, "out of memory remembering %zu ids", set->count);
	}
	for (size_t i = 0; i < set->cap; i++) {
		if (set->hashes[i] != 0) {
			size_t slot = find_slot(&bigger, set->keys[i], set->hashes[i]);

			bigger.hashes[slot] = set->hashes[i];
			bigger.keys[slot] = set->keys[i];
		}
	}
	free(set->hashes);
	free(set->keys);
	*set = bigger;
	return VC_OK;
}

bool vc_id_set_contains(const vc_id_set *set, const char *id)
{
	if (set->cap == 0)
		return false;
	return set->hashes[find_slot(set, id, id_hash(id))] != 0;
}

vc_err vc_id_set_insert(vc_id_set *set, const char *id, bool *inserted)
{
	uint64_t hash = id_hash(id);
	size_t slot;
	char *copy;
	vc_err err;

	*inserted = false;
	/* Keep the table at most half full so probe runs stay short. */
	if (2 * (set->count + 1) > set->cap) {
		err = grow(set);
		if (err != VC_OK)
			return err;
	}
	slot = find_slot(set, id, hash);
	if (set->hashes[slot] != 0)
		return VC_OK;
	copy = arena_copy(set, id);
	if (copy == NULL)
		return vc_fail(VC_ERR_NOMEM, "out of memory remembering %zu ids", set->count);
	set->hashes[slot] = hash;
	set->keys[slot] = copy;
	set->count++;
	*inserted = true;
	return VC_OK;
}

void vc_id_set_free(vc_id_set *set)
{
	struct vc_id_block *block = set->blocks;

	while (block != NULL) {
		struct vc_id_block *next = block->next;

		free(block);
		block = next;
	}
	free(set->hashes);
	free(set->keys);
	memset(set, 0, sizeof(*set));
}
