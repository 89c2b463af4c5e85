// Password reset by the emailed code, in headless Chromium at phone width: from the
// sign-in page's link, through the code read from SES, to signing in with the new
// password (and not with the old one).
//
// Usage: node password_reset.mjs BASE_URL SES_URL EMAIL
//   EMAIL  a confirmed account whose password is lib.mjs's PASSWORD
import { PASSWORD, expect, expectNoSidewaysScroll, fromEmail, run } from './lib.mjs';

const [base, sesUrl, email] = process.argv.slice(2);
const newPassword = 'a brand new passphrase';

async function signIn(page, password) {
  await page.goto(`${base}/console/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

await run('password-reset', async (page) => {
  await page.goto(`${base}/console/sign-in`);
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  await page.getByLabel('Email').fill(email);
  await page.getByRole('button', { name: 'Email me a code' }).click();
  await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
  await expectNoSidewaysScroll(page);

  const code = await fromEmail(sesUrl, email, /code to choose a new Nudge password is (\d{6})/);
  // A wrong code first: refused, with the guesses left said in an alert.
  const wrong = code === '000000' ? '111111' : '000000';
  await page.getByLabel('Code from the email').fill(wrong);
  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Set my password' }).click();
  await page.getByRole('alert').waitFor();

  await page.getByLabel('Code from the email').fill(code);
  await page.getByLabel('New password').fill(newPassword);
  await page.getByRole('button', { name: 'Set my password' }).click();
  await page.getByRole('link', { name: 'Sign in' }).waitFor();

  await signIn(page, PASSWORD);
  await page.getByRole('alert').getByText('do not match').waitFor();
  await signIn(page, newPassword);
  await page.getByRole('heading', { name: 'Welcome' }).waitFor();
  expect(await page.getByText(email).count() > 0, 'signed in as the account');
});
