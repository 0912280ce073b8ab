// The portal's entry: the app in the page served by the node, or — when the page carries a benchmark report
// (`chorus bench report … --html`) — that report's charts alone, with no connection to anything.
import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { App } from './app.tsx';
import { BenchReportPage, embeddedReport } from './views/bench.tsx';

const root = document.getElementById('app');
if (root) {
  root.textContent = '';
  const report = embeddedReport();
  render(report === undefined ? <App /> : <BenchReportPage report={report} />, root);
}
