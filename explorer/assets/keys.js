// Keyboard shortcuts of the explorer: Ctrl+Z undoes the last maze edit, Ctrl+Shift+Z (or
// Ctrl+Y) redoes it, by pressing the page's own buttons. In a text or number box the keys
// keep their usual meaning (undoing typing).
document.addEventListener("keydown", (event) => {
  if (!(event.ctrlKey || event.metaKey)) return;
  const target = event.target;
  if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
  const key = event.key.toLowerCase();
  const redo = (key === "z" && event.shiftKey) || key === "y";
  const undo = key === "z" && !event.shiftKey;
  if (!redo && !undo) return;
  const button = document.getElementById(redo ? "redo" : "undo");
  if (button) {
    event.preventDefault();
    button.click();
  }
});
