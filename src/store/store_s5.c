/* The S5 HTTP bridge backend (being written; the directory backend is usable meanwhile). */
#include "store/store_i.h"
#include "util/error_i.h"

vc_err vc_store_s5_open(const char *base, const char *session, const vc_store_options *options,
			vc_store **out)
{
	(void)options;
	(void)out;
	return vc_fail(VC_ERR_UNSUPPORTED, "S5 store %s/s5/fs/%s: S5 backend not built yet", base,
		       session);
}
