// The sign-in form: the only thing shown while there is no admin token. The token is checked
// against the API before it is kept, so a typo shows here rather than as a failing dashboard.

import {token, tokenWorks} from '../api.js';
import {field, h, replace} from '../dom.js';

// Fills `main` with the form. `message` (optional) says why the operator was signed out;
// `onSignedIn` runs once a token the API accepts is stored.
export function renderSignIn(main, {message, onSignedIn}) {
  const input = h('input', {
    type: 'password', name: 'token', autocomplete: 'current-password', required: true,
    spellcheck: 'false',
  });
  const feedback = h('div', {class: 'sign-in-feedback'},
      message ? h('p', {class: 'notice', role: 'alert', text: message}) : null);
  const submit = h('button', {type: 'submit', class: 'primary', text: 'Sign in'});
  const form = h('form', {class: 'sign-in', novalidate: true},
      feedback,
      // Lets password managers file the token under a name (the API has no user names).
      h('input', {type: 'text', name: 'username', autocomplete: 'username', value: 'admin', hidden: true}),
      field('Admin token', input, {
        hint: 'The TURNPIKE_ADMIN_TOKEN the gateway runs with. It is kept in this browser tab only.',
      }),
      h('div', {class: 'actions'}, submit));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const candidate = input.value.trim();
    if (!candidate) {
      showProblem(feedback, input, 'Enter the admin token.');
      return;
    }
    submit.disabled = true;
    try {
      if (await tokenWorks(candidate)) {
        token.set(candidate);
        onSignedIn();
        return;
      }
      showProblem(feedback, input, 'The admin API did not accept that token. Check it and try again.');
    } catch (error) {
      showProblem(feedback, input, `Could not reach the admin API: ${error.message}`);
    } finally {
      submit.disabled = false;
    }
  });

  replace(main, h('div', {class: 'view sign-in-page'}, h('h1', {text: 'Sign in'}), form));
  input.focus();
}

function showProblem(feedback, input, text) {
  replace(feedback, h('p', {class: 'form-errors', role: 'alert', text}));
  input.setAttribute('aria-invalid', 'true');
  input.select();
  input.focus();
}
