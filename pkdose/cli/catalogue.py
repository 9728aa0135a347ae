"""The catalogues: pkdose models, references (and references show), interactions."""

from __future__ import annotations

import click

from pkdose.cli.lazy import pd
from pkdose.cli.output import notice
from pkdose.errors import PkdoseError


@click.command()
@click.option("--drug", help="Only models of this drug.")
def models(drug):
    """List the drug models with their sources.

    \b
    Example:
      pkdose models --drug everolimus
    """
    from pkdose.drugs import resolve_drug
    from pkdose.model import builtin_models

    notice()
    wanted = resolve_drug(drug) if drug else None
    shown = [m for m in builtin_models(species=None).values() if wanted in (None, m.drug)]
    if not shown:
        raise PkdoseError(f"no model for {drug!r}")
    for m in shown:
        flag = " (default)" if m.default else ""
        if m.is_animal:
            flag = f" ({m.species}{', default' if m.default else ''}; docs/species.md)"
        pop = m.population
        click.echo(f"{m.name}{flag} - {m.drug}: {m.title}")
        click.echo(f"    population: {pop.get('description', '')}")
        if "dose_mg" in pop:
            click.echo(f"    doses fitted: {pop['dose_mg'][0]:g}-{pop['dose_mg'][1]:g} mg "
                       f"({pop.get('dosing', '')})")
        if not m.is_animal:
            from pkdose.children import coverage

            click.echo(f"    children: {coverage(m.drug)}")
        ident = (f"doi:{m.source['doi']}" if m.source.get("doi")
                 else f"label: {m.source.get('label', '')}")
        click.echo(f"    source: {m.source.get('citation', '')} {ident}")
        if not m.is_animal:
            from pkdose.conditions import model_conditions

            click.echo(f"    conditions: {model_conditions(m)}")


@click.group(invoke_without_command=True)
@click.option("--purpose", help="Only this purpose: transplant, oncology, tsc, lam, "
                                "ageing (= ageing-trial and planned-ageing-trial), "
                                "ageing-trial, planned-ageing-trial, topical, lifespan, "
                                "disease-model, animal-study.")
@click.option("--drug", help="Only this drug.")
@click.option("--species", type=click.Choice(["human", "mouse", "dog", "marmoset"]),
              help="Only studies in this species.")
@click.pass_context
def references(ctx, purpose, drug, species):
    """The reference regimen library (regimens/*.toml), with citations.

    \b
    Example:
      pkdose references --purpose ageing-trial
      pkdose references --species mouse --purpose lifespan
      pkdose references show mannick2014
    """
    if ctx.invoked_subcommand is not None:
        return
    from pkdose.comparison import AGAINST_GROUPS
    from pkdose.drugs import resolve_drug
    from pkdose.references import load

    notice()
    purposes = AGAINST_GROUPS.get(purpose, (purpose,)) if purpose else (None,)
    frames = [load(purpose=p, drug=resolve_drug(drug) if drug else None, species=species)
              for p in purposes]
    df = pd.concat(frames, ignore_index=True)
    if df.empty:
        raise PkdoseError("no reference regimen matches; try without --purpose/--drug/--species")
    width = max(len(n) for n in df["name"])
    for _, row in df.iterrows():
        combined = (f"  (with {'; '.join(row['combined_with'])}: not simulated)"
                    if row["combined_with"] else "")
        topical = "" if row["systemic"] else "  (applied to the skin; no systemic exposure)"
        animal = "" if row["species"] == "human" else f"[{row['species']}] "
        click.echo(f"{row['name']:<{width}}  {row['purpose']:<20}  {animal}{row['regimen']}"
                   f"{combined}{topical}")


@references.command("show")
@click.argument("name")
def references_show(name):
    """One reference: regimen, population, source, observed exposure, target ranges.

    \b
    Example:
      pkdose references show afinitor-10mg-daily
    """
    from pkdose.references import get

    notice()
    click.echo(get(name).to_text(), nl=False)


@click.command()
@click.option("--drug", help="Only this drug.")
def interactions(drug):
    """Co-medications known to the interaction layer, with their fold-changes and sources.

    \b
    Example:
      pkdose interactions --drug everolimus
    """
    from pkdose.drugs import resolve_drug
    from pkdose.interactions import class_only_comedications, list_interactions
    from pkdose.results import NOT_AVAILABLE, number

    notice()
    df = list_interactions(resolve_drug(drug) if drug else None)
    cols = ["drug", "spec", "context", "auc_ratio", "cmax_ratio", "trough_ratio", "cl_factor",
            "f_factor", "kinetics", "citation"]
    click.echo(df[cols].to_string(index=False, max_colwidth=60, na_rep=NOT_AVAILABLE,
                                  float_format=number))
    for name, what in class_only_comedications().items():
        click.echo(f"{name}: {what}")
    click.echo("kinetics: onset and offset of a co-medication taken on some days "
               "(--with NAME:dayA-dayB); empty: whole course only", err=True)
    click.echo(f"Fold-changes on CL/F and F; {NOT_AVAILABLE}: not reported by the source; "
               "derivation and caveats: docs/interactions.md", err=True)
