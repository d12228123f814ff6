import { duration, edgeTooltip, humanSize, runText, shapeText, variableText } from '../src/details';
import { IStageRun } from '../src/tokens';

describe('details words', () => {
  it('says sizes in decimal units', () => {
    expect(humanSize(984)).toBe('984 B');
    expect(humanSize(4032)).toBe('4.0 kB');
    expect(humanSize(2_500_000)).toBe('2.5 MB');
  });

  it('says durations', () => {
    expect(duration(0.0123)).toBe('0.01 s');
    expect(duration(12.34)).toBe('12.3 s');
    expect(duration(83.2)).toBe('1 min 23 s');
  });

  it('says shapes of arrays, tables and containers', () => {
    expect(shapeText({ type: 'numpy.ndarray', shape: [120, 4], dtype: 'float64' })).toBe('120 × 4');
    expect(shapeText({ type: 'pandas.DataFrame', rows: 150, columns: [{ name: 'a', dtype: 'int64' }] })).toBe(
      '150 rows × 1 columns'
    );
    expect(shapeText({ type: 'list', length: 1 })).toBe('1 item');
  });

  it('says what a recorded variable is', () => {
    const grid = {
      stage: 'load',
      run_id: 'r',
      bytes: 4032,
      summary: { type: 'numpy.ndarray', shape: [120, 4], dtype: 'float64' }
    };
    expect(variableText(grid)).toBe('numpy.ndarray float64 120 × 4 · 4.0 kB');
    expect(variableText({ stage: 's', run_id: 'r', summary: { type: 'float', value: 0.9333333333333333 } })).toBe(
      'float = 0.933333'
    );
    expect(variableText(undefined)).toMatch(/not recorded yet/);
    expect(edgeTooltip(['grid', 'other'], { grid })).toBe('grid: numpy.ndarray float64 120 × 4 · 4.0 kB\nother');
  });

  it('says a run', () => {
    const run: IStageRun = {
      run_id: 'r',
      target: 'run',
      status: 'cached',
      reason: null,
      started: null,
      finished: null,
      seconds: 0.5,
      cpu_seconds: null,
      peak_memory: null,
      error: null
    };
    expect(runText(run)).toBe('cached 0.50 s · via run');
  });
});
