// A confirmation as a modal <dialog>: focus moves into it, Escape cancels, and nothing
// changes until "Confirm" is pressed. Resolves true or false.
import { render } from 'preact';

export function confirmAction(title, detail) {
  return new Promise((resolve) => {
    const host = document.createElement('div');
    document.body.appendChild(host);
    const done = (ok) => {
      const dialog = host.querySelector('dialog');
      if (dialog && dialog.open) dialog.close();
      render(null, host);
      host.remove();
      resolve(ok);
    };
    render(
      <dialog class="confirm" aria-labelledby="confirm-title" onCancel={(e) => { e.preventDefault(); done(false); }}>
        <h2 id="confirm-title">{title}</h2>
        <p>{detail}</p>
        <div class="actions">
          <button type="button" onClick={() => done(false)}>Cancel</button>
          <button type="button" class="primary" onClick={() => done(true)}>Confirm</button>
        </div>
      </dialog>, host);
    const dialog = host.querySelector('dialog');
    dialog.showModal();
    dialog.querySelector('.primary').focus();
  });
}
