/*
** registry.c: the table of every node type in this build. [any] (immutable data)
** The list comes from mg_node_list.h, generated at build time from the `mg_node_NAME`
** descriptors in nodes/ and engine/ (cmake/gen_registry.cmake): a node file registers itself
** by existing. Programs may add their own types with mg_node_type_register.
*/
#include <string.h>

#include "mg_node.h"

#define MG_NODE(name) extern const mg_node_desc mg_node_##name;
#include "mg_node_list.h"
#undef MG_NODE

const mg_node_desc *const mg_node_types[] = {
#define MG_NODE(name) &mg_node_##name,
#include "mg_node_list.h"
#undef MG_NODE
    NULL,
};

/* Types added by the host program (tests, embedders): [control], before graphs use them. */
#define MG_EXTRA_TYPES 32
static const mg_node_desc *extra[MG_EXTRA_TYPES];
static int n_extra;

const mg_node_desc *mg_node_type_find(const char *name)
{
    for (int i = 0; mg_node_types[i]; i++)
        if (strcmp(mg_node_types[i]->name, name) == 0)
            return mg_node_types[i];
    for (int i = 0; i < n_extra; i++)
        if (strcmp(extra[i]->name, name) == 0)
            return extra[i];
    return NULL;
}

mg_status mg_node_type_register(const mg_node_desc *d)
{
    if (!d || !d->name || !d->process || mg_node_type_find(d->name))
        return MG_ERR_INVALID;
    if (n_extra == MG_EXTRA_TYPES)
        return MG_ERR_NOMEM;
    extra[n_extra++] = d;
    return MG_OK;
}
