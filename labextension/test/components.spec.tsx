import { fireEvent, render, screen } from '@testing-library/react';
import React from 'react';

import { DiagnosticsList } from '../src/components/DiagnosticsList';
import { PipelineView } from '../src/components/PipelineView';
import { Toolbar } from '../src/components/Toolbar';
import { IPipelineState } from '../src/model';
import { irisGraph } from './fixtures';

const noop = (): void => undefined;

function view(state: IPipelineState, overrides: Partial<React.ComponentProps<typeof PipelineView>> = {}) {
  return render(
    <PipelineView
      state={state}
      showGraph={false}
      dark={false}
      direction="LR"
      selected={null}
      busy={false}
      message={null}
      onSelect={noop}
      onGoToCell={noop}
      onRun={noop}
      onExport={noop}
      onCheck={noop}
      {...overrides}
    />
  );
}

describe('DiagnosticsList', () => {
  it('lists errors first with code, message and hint, and jumps on click', () => {
    const onSelect = jest.fn();
    render(<DiagnosticsList diagnostics={irisGraph().diagnostics} onSelect={onSelect} />);
    const buttons = screen.getAllByRole('button');
    expect(buttons.map(b => b.getAttribute('data-code'))).toEqual(['NBP101', 'NBP203', 'NBP107']);
    expect(buttons[0].textContent).toContain("stage 'train' reads 'ys'");
    expect(buttons[0].textContent).toContain('declare it: --in ys');
    fireEvent.click(buttons[0]);
    expect(onSelect).toHaveBeenCalledWith(expect.objectContaining({ code: 'NBP101', cell: 5 }));
  });

  it('disables diagnostics that have no cell (still reachable with the arrow keys)', () => {
    const onSelect = jest.fn();
    render(<DiagnosticsList diagnostics={irisGraph().diagnostics} onSelect={onSelect} />);
    const button = screen.getByText('NBP203').closest('button') as HTMLButtonElement;
    expect(button.getAttribute('aria-disabled')).toBe('true');
    fireEvent.click(button);
    expect(onSelect).not.toHaveBeenCalled();
  });

  it('is one tab stop; the arrow keys move between diagnostics', () => {
    render(<DiagnosticsList diagnostics={irisGraph().diagnostics} onSelect={noop} />);
    const buttons = screen.getAllByRole('button');
    expect(buttons.map(b => b.tabIndex)).toEqual([0, -1, -1]);
    buttons[0].focus();
    fireEvent.keyDown(buttons[0], { key: 'ArrowDown' });
    expect(document.activeElement).toBe(buttons[1]);
    expect(screen.getAllByRole('button').map(b => b.tabIndex)).toEqual([-1, 0, -1]);
    fireEvent.keyDown(buttons[1], { key: 'End' });
    expect(document.activeElement).toBe(buttons[2]);
    fireEvent.keyDown(buttons[2], { key: 'Home' });
    expect(document.activeElement).toBe(buttons[0]);
  });

  it('says so when there is nothing to report', () => {
    render(<DiagnosticsList diagnostics={[]} onSelect={noop} />);
    expect(screen.getByText('No problems found.')).toBeTruthy();
  });
});

describe('Toolbar', () => {
  it('runs the selected stage and exports to the chosen target', () => {
    const onRun = jest.fn();
    const onExport = jest.fn();
    const onCheck = jest.fn();
    render(
      <Toolbar
        stages={['load', 'train']}
        selected="train"
        busy={false}
        onSelect={noop}
        onRun={onRun}
        onExport={onExport}
        onCheck={onCheck}
      />
    );
    fireEvent.click(screen.getByText('Run to here'));
    expect(onRun).toHaveBeenCalledWith('train');
    fireEvent.change(screen.getByLabelText('Export target'), { target: { value: 'airflow' } });
    fireEvent.click(screen.getByText('Export'));
    expect(onExport).toHaveBeenCalledWith('airflow');
    fireEvent.click(screen.getByText('Check'));
    expect(onCheck).toHaveBeenCalled();
  });

  it('cannot run without a selected stage or while busy', () => {
    const { rerender } = render(
      <Toolbar
        stages={['load']}
        selected={null}
        busy={false}
        onSelect={noop}
        onRun={noop}
        onExport={noop}
        onCheck={noop}
      />
    );
    expect((screen.getByText('Run to here') as HTMLButtonElement).disabled).toBe(true);
    rerender(
      <Toolbar
        stages={['load']}
        selected="load"
        busy={true}
        onSelect={noop}
        onRun={noop}
        onExport={noop}
        onCheck={noop}
      />
    );
    expect((screen.getByText('Run to here') as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('PipelineView', () => {
  it('asks for a notebook when none is active', () => {
    view({ path: null, graph: null, error: null, loading: false });
    expect(screen.getByText('Open a notebook to see its pipeline.')).toBeTruthy();
  });

  it('explains how to add a first stage', () => {
    view({
      path: 'a.ipynb',
      graph: { ...irisGraph(), stages: [], edges: [], diagnostics: [] },
      error: null,
      loading: false
    });
    expect(screen.getByText('This notebook has no stages yet.')).toBeTruthy();
  });

  it('shows the server error with its hint', () => {
    view({ path: 'a.ipynb', graph: null, error: { message: 'bad', hint: 'fix it' }, loading: false });
    expect(screen.getByRole('alert').textContent).toBe('badfix it');
  });

  it('shows summary and diagnostics, and goes to a diagnostic cell', () => {
    const onGoToCell = jest.fn();
    view({ path: 'a.ipynb', graph: irisGraph(), error: null, loading: false }, { onGoToCell });
    expect(screen.getByText('1 error, 2 warnings')).toBeTruthy();
    fireEvent.click(screen.getByText('NBP101'));
    expect(onGoToCell).toHaveBeenCalledWith(5, 'train', { line: 2, col: 8, length: 2 });
  });
});
