/* msg: the protocol-neutral request head (see msg.h). */
#include <string.h>
#include <strings.h>

#include "msg.h"

bool
msg_name_eq(const struct msg_field *f, const char *name)
{
	size_t n = strlen(name);

	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

const struct msg_field *
msg_fields_find(const struct msg_field *fields, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (msg_name_eq(&fields[i], name))
			return &fields[i];
	return NULL;
}

const struct msg_field *
msg_find(const struct msg_request *rq, const char *name)
{
	return msg_fields_find(rq->fields, rq->nfields, name);
}
