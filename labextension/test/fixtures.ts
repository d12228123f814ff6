import { IGraph } from '../src/tokens';

/** A graph JSON v1 document like the server returns for a three-stage notebook. */
export function irisGraph(): IGraph {
  return {
    version: 1,
    notebook: 'example_notebooks/iris.ipynb',
    parameters: { test_size: 0.2, C: 1.0 },
    stages: [
      {
        name: 'load',
        cell: 2,
        inputs: [],
        outputs: ['raw'],
        file_inputs: ['data/iris.csv'],
        file_outputs: [],
        params: [],
        status: 'fresh'
      },
      {
        name: 'split',
        cell: 3,
        inputs: ['raw'],
        outputs: ['X', 'y'],
        file_inputs: [],
        file_outputs: [],
        params: ['test_size'],
        status: 'stale'
      },
      {
        name: 'train',
        cell: 5,
        inputs: ['X', 'y'],
        outputs: ['model'],
        file_inputs: [],
        file_outputs: ['model.pkl'],
        params: ['C'],
        status: 'never-run'
      }
    ],
    edges: [
      { source: 'load', target: 'split', names: ['raw'] },
      { source: 'split', target: 'train', names: ['X', 'y'] }
    ],
    order: ['load', 'split', 'train'],
    diagnostics: [
      {
        code: 'NBP101',
        severity: 'error',
        stage: 'train',
        cell: 5,
        line: 2,
        col: 8,
        names: ['ys'],
        message: "stage 'train' reads 'ys'",
        hint: 'declare it: --in ys'
      },
      {
        code: 'NBP107',
        severity: 'warning',
        stage: 'split',
        cell: 3,
        line: null,
        col: null,
        names: [],
        message: 'order',
        hint: ''
      },
      {
        code: 'NBP203',
        severity: 'warning',
        stage: null,
        cell: null,
        line: null,
        col: null,
        names: [],
        message: 'out of order',
        hint: ''
      }
    ]
  };
}
