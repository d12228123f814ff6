import { analysisContent } from '../src/content';
import { STAGE_MIME } from '../src/tokens';

const figure = 'iVBORw0KGgo'.repeat(100_000); // a ~1 MB PNG as base64
const bundle = { stage: 'load', key: 'ab', status: 'ran' };

const notebook = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: 'python3' } },
  cells: [
    { cell_type: 'markdown', source: '# t', metadata: {}, attachments: { 'a.png': { 'image/png': figure } } },
    {
      cell_type: 'code',
      source: '%%stage load --out df\ndf = 1',
      metadata: { tags: ['x'] },
      execution_count: 3,
      outputs: [
        { output_type: 'stream', name: 'stdout', text: 'hello' },
        { output_type: 'display_data', data: { 'image/png': figure, [STAGE_MIME]: bundle }, metadata: {} },
        { output_type: 'execute_result', data: { 'image/png': figure }, metadata: {}, execution_count: 3 }
      ]
    }
  ]
};

describe('analysisContent', () => {
  it('keeps sources, metadata, execution counts and the stage bundle, and drops every other output', () => {
    const sent = analysisContent(notebook) as typeof notebook;
    expect(sent.metadata).toEqual(notebook.metadata);
    expect(sent.cells.map(c => c.source)).toEqual(notebook.cells.map(c => c.source));
    expect(sent.cells[0]).not.toHaveProperty('attachments');
    expect(sent.cells[1].execution_count).toBe(3);
    expect(sent.cells[1].outputs).toEqual([
      { output_type: 'display_data', data: { [STAGE_MIME]: bundle }, metadata: {} }
    ]);
    const before = JSON.stringify(notebook).length;
    const after = JSON.stringify(sent).length;
    expect(before).toBeGreaterThan(3_000_000);
    expect(after).toBeLessThan(1_000);
  });

  it('passes anything that is not a notebook through', () => {
    expect(analysisContent(null)).toBeNull();
    expect(analysisContent('text')).toBe('text');
  });
});
