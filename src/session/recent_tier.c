/* The recent tier's graph (index/recent-<epoch>.bin): an HNSW graph over the rows of the chunks
 * added since the index was built, loaded with each snapshot like the other index objects. It is
 * stored without its vectors (they are the recent chunks' rows), so a commit rewrites links
 * only; loading puts the rows back from the chunks (graph_tier.c). */
#include <string.h>

#include "session/graph_tier.h"
#include "session/recent_tier.h"
#include "session/session_i.h"
#include "util/error_i.h"

const vc_object_ref *vc_recent_tier_ref(const vc_manifest *manifest)
{
	size_t prefix = strlen(VC_RECENT_TIER_PREFIX);

	for (size_t i = 0; i < manifest->object_count; i++)
		if (strncmp(manifest->objects[i].path, VC_RECENT_TIER_PREFIX, prefix) == 0)
			return &manifest->objects[i];
	return NULL;
}

vc_err vc_recent_tier_load(vc_session *session, const vc_manifest *manifest,
			   const vc_object_ref *ref, vc_hnsw_tier **out)
{
	return vc_session_graph_load(session, manifest, ref->path,
				     vc_manifest_indexed_chunks(manifest), manifest->chunk_count,
				     out);
}

static vc_err recent_tier_loader(vc_session *session, const vc_manifest *manifest, const void *arg,
				 void **out)
{
	vc_hnsw_tier *tier = NULL;
	vc_err err = vc_recent_tier_load(session, manifest, arg, &tier);

	*out = tier;
	return err;
}

vc_err vc_session_recent_tier(vc_session *session, const vc_manifest *manifest,
			      const vc_hnsw_tier **tier)
{
	const vc_object_ref *ref = vc_recent_tier_ref(manifest);
	void *loaded;
	vc_err err;

	*tier = NULL;
	if (ref == NULL)
		return VC_OK;
	err = vc_snapshot_lazy(session, manifest, VC_SLOT_RECENT_TIER, recent_tier_loader, ref,
			       vc_hnsw_tier_free_any, &loaded);
	*tier = loaded;
	return err;
}
