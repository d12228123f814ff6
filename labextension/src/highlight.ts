/**
 * What the graph emphasises: the selected stage's upstream and downstream stages (and the
 * edges between them), and the stages whose names match the search box. Everything else
 * is dimmed while one of the two is active.
 */
import { nodeId } from './model';
import { IGraph } from './tokens';

/** The stages a stage depends on (up) and that depend on it (down), transitively. */
export function lineage(graph: IGraph, stage: string): { up: Set<string>; down: Set<string> } {
  const parents = new Map<string, string[]>();
  const children = new Map<string, string[]>();
  for (const e of graph.edges) {
    parents.set(e.target, [...(parents.get(e.target) ?? []), e.source]);
    children.set(e.source, [...(children.get(e.source) ?? []), e.target]);
  }
  const reach = (links: Map<string, string[]>): Set<string> => {
    const seen = new Set<string>();
    const todo = [...(links.get(stage) ?? [])];
    while (todo.length) {
      const next = todo.pop() as string;
      if (!seen.has(next) && next !== stage) {
        seen.add(next);
        todo.push(...(links.get(next) ?? []));
      }
    }
    return seen;
  };
  return { up: reach(parents), down: reach(children) };
}

/** The stage names that match a search: every name containing `query`, ignoring case; none for a blank query. */
export function matches(graph: IGraph, query: string): string[] {
  const q = query.trim().toLowerCase();
  return q ? graph.stages.map(s => s.name).filter(name => name.toLowerCase().includes(q)) : [];
}

/** Class names per node id and per edge id (absent: nothing to add). */
export interface IHighlight {
  nodes: Map<string, string>;
  edges: Map<string, string>;
}

/**
 * The classes that show the selected stage's lineage and the search's matches: `upstream`,
 * `downstream`, `match`, and `dimmed` for the other stages and edges while either is active.
 */
export function highlight(graph: IGraph, selected: string | null, query: string): IHighlight {
  const nodes = new Map<string, string>();
  const edges = new Map<string, string>();
  const found = new Set(matches(graph, query));
  const known = selected !== null && graph.stages.some(s => s.name === selected);
  if (!known && !query.trim()) {
    return { nodes, edges };
  }
  const { up, down } = known ? lineage(graph, selected as string) : { up: new Set<string>(), down: new Set<string>() };
  const lit = new Set([...up, ...down, ...(known ? [selected as string] : [])]);
  for (const s of graph.stages) {
    const classes = [up.has(s.name) && 'jp-nbpipe-upstream', down.has(s.name) && 'jp-nbpipe-downstream'];
    classes.push(found.has(s.name) && 'jp-nbpipe-match');
    const dim = query.trim() ? !found.has(s.name) : !lit.has(s.name);
    classes.push(dim && 'jp-nbpipe-dimmed');
    const text = classes.filter(Boolean).join(' ');
    if (text) {
      nodes.set(nodeId.stage(s.name), text);
    }
  }
  const upTo = (name: string): boolean => name === selected || up.has(name);
  const downFrom = (name: string): boolean => name === selected || down.has(name);
  for (const e of graph.edges) {
    // An edge of the lineage: into the selected stage's upstream, or out of its downstream.
    const related = known && ((up.has(e.source) && upTo(e.target)) || (downFrom(e.source) && down.has(e.target)));
    edges.set(`edge:${e.source}->${e.target}`, related ? 'jp-nbpipe-lineage' : 'jp-nbpipe-dimmed');
  }
  return { nodes, edges };
}
