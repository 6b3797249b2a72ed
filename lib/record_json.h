/* The JSON side of the stage contract (record.h); links jansson. */
#ifndef RECORD_JSON_H
#define RECORD_JSON_H

#include <jansson.h>

#include "record.h"

/* The verdict section: a new reference, NULL if out of memory. */
json_t	*verdict_json(const struct verdict *v);

/* v as an entry of exec.violations: a new reference, NULL if out of memory. */
json_t	*violation_json(const struct violation *v);

#endif
