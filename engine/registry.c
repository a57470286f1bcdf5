/*
** registry.c: the table of every node type in this build. [any] (immutable data)
** The list comes from mg_node_list.h, generated at build time from the `mg_node_NAME`
** descriptors in nodes/ and engine/ (cmake/gen_registry.cmake): a node file registers itself
** by existing.
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

const mg_node_desc *mg_node_type_find(const char *name)
{
    for (int i = 0; mg_node_types[i]; i++)
        if (strcmp(mg_node_types[i]->name, name) == 0)
            return mg_node_types[i];
    return NULL;
}
