{#- The last cells of a family's notebook: parameters and multiply-adds per variant, then the summary. -#}
# %% [markdown]
# ## Size and cost of each variant
#
# Parameters and multiply-adds (of the {{ counted }}) per variant, in millions.
# `cost[v].params` counts every parameter (batch-norm scales and shifts, biases); if the paper counts
# only the convolution and fully connected weights, use `cost[v].weight_params`.

# %%
# TODO(kb new): the paper's parameters and Mult-Adds per variant (millions), exactly as printed; None where it prints nothing.
PRINTED_COST = {
    #        params  Mult-Adds
{%- for name in variant_names %}
    {{ name | tojson }}: [TODO,   TODO],
{%- endfor %}
}

scaffold.table(
    ledger, "table-cost", "Parameters and multiply-adds per variant", "Table TODO",
    rows=list(VARIANTS), columns=["parameters", "Mult-Adds"],
    reported=[PRINTED_COST[name] for name in VARIANTS],
    measured=[[cost[name].params / MILLION, cost[name].madds / MILLION] for name in VARIANTS],
    unit="M",
    decimals=TODO,  # TODO(kb new): how many decimals the paper prints (a cell agrees when ours rounds to it)
)

# %%
ledger.summary()
