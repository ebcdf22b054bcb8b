// Clicks on the maze figure, read from where the pointer went down and up. Plotly reports a
// click (clickData) only once its hover has caught up with the pointer, so a click made
// right after a redraw was lost; this listener does not depend on hover. A press and release
// within a few pixels of each other inside the plot area is a click on the cell under it; the
// cell goes to the "maze-click" store with a running number, so clicking the same cell again
// is a new click too.
(function () {
  let down = null;
  let clicks = 0;

  function plot() {
    const graph = document.querySelector("#maze-graph .js-plotly-plot");
    return graph && graph._fullLayout && graph._fullLayout.xaxis ? graph : null;
  }

  function cellAt(graph, event) {
    const xa = graph._fullLayout.xaxis;
    const ya = graph._fullLayout.yaxis;
    const box = graph.getBoundingClientRect();
    const px = event.clientX - box.left - xa._offset;
    const py = event.clientY - box.top - ya._offset;
    if (px < 0 || py < 0 || px > xa._length || py > ya._length) return null;
    return [Math.round(ya.p2d(py)), Math.round(xa.p2d(px))];
  }

  document.addEventListener("mousedown", (event) => {
    const graph = plot();
    down = graph && event.button === 0 ? cellAt(graph, event) && [event.clientX, event.clientY] : null;
  }, true);

  document.addEventListener("mouseup", (event) => {
    const graph = plot();
    const start = down;
    down = null;
    if (!graph || !start || !window.dash_clientside || !window.dash_clientside.set_props) return;
    if (Math.abs(event.clientX - start[0]) > 4 || Math.abs(event.clientY - start[1]) > 4) return;
    const cell = cellAt(graph, event);
    if (!cell) return;
    clicks += 1;
    window.dash_clientside.set_props("maze-click", {data: {row: cell[0], col: cell[1], n: clicks}});
  }, true);
})();
