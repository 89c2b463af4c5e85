// Sign-up -> the confirmation email -> confirm -> sign in, in headless Chromium at
// phone width, as a person does it: by labels, buttons and the keyboard.
//
// Usage: node sign_up.mjs BASE_URL SES_URL EMAIL
//   BASE_URL  the console's origin (the app a Rust test started)
//   SES_URL   LocalStack's /_aws/ses, where the confirmation email is read
// Exits non-zero, with the reason, at the first thing that is not as expected.
import { PASSWORD, expect, expectNoSidewaysScroll, fromEmail, onApp, run } from './lib.mjs';

const [base, sesUrl, email] = process.argv.slice(2);

await run('sign-up', async (page) => {
  await page.goto(`${base}/console/sign-up`);
  // The first Tab reaches the skip link: the page is keyboard-navigable from the top.
  await page.keyboard.press('Tab');
  expect(await page.evaluate(() => document.activeElement?.textContent) === 'Skip to content', 'the skip link first');

  await page.getByLabel('Business name').fill('Browser Boots');
  await page.getByLabel('Work email').fill(email);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByRole('alert').getByText('Use at least 10 characters.').waitFor();
  expect(await page.getByLabel('Work email').inputValue() === email, 'the typed address kept');

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByLabel('Password').press('Enter');
  await page.getByRole('heading', { name: 'Check your inbox' }).waitFor();

  await page.goto(onApp(base, await fromEmail(sesUrl, email, /\S*\/console\/verify-email\?token=\S+/)));
  await page.getByRole('button', { name: 'Confirm my email' }).click();
  await page.getByRole('heading', { name: 'Your email is confirmed' }).waitFor();
  await page.getByRole('link', { name: 'Sign in' }).click();

  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Welcome' }).waitFor();
  expect(await page.getByText('Browser Boots').count() > 0, 'the tenant on the home page');
  await expectNoSidewaysScroll(page);

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
});
