/*
** registry.c: the table of every node type in this build. [any] (immutable data)
** A new node type adds its descriptor here and nowhere else.
*/
#include <string.h>

#include "mg_node.h"

extern const mg_node_desc mg_node_output, mg_node_gain, mg_node_pan, mg_node_mix, mg_node_osc,
    mg_node_noise, mg_node_file, mg_node_delay;

const mg_node_desc *const mg_node_types[] = {
    &mg_node_osc, &mg_node_noise, &mg_node_file, &mg_node_gain, &mg_node_pan,
    &mg_node_mix, &mg_node_delay, &mg_node_output, NULL,
};

const mg_node_desc *mg_node_type_find(const char *name)
{
    for (int i = 0; mg_node_types[i]; i++)
        if (strcmp(mg_node_types[i]->name, name) == 0)
            return mg_node_types[i];
    return NULL;
}
