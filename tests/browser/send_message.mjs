// Send a message from the console and watch its timeline reach `delivered`, in
// headless Chromium at phone width, against the whole stack (the API, the sender, the
// provider sandbox and the webhook listener started by a Rust end-to-end test). The
// page is not reloaded: the timeline updates itself. The stack's sandbox must deliver
// after a few seconds (SANDBOX_FINAL_STATUS_AFTER_MS), so that the wait is seen.
//
// Usage: node send_message.mjs BASE_URL EMAIL TO
//   EMAIL  a marketer or an owner whose password is lib.mjs's PASSWORD
//   TO     the recipient's number
import { PASSWORD, expect, expectNoSidewaysScroll, run } from './lib.mjs';

const [base, email, to] = process.argv.slice(2);

await run('send-message', async (page) => {
  await page.goto(`${base}/console/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // On the way, a template's live preview: typing a character GSM-7 lacks turns the
  // count to UCS-2 without a reload.
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Templates' }).click();
  await page.getByRole('link', { name: 'New template' }).click();
  await page.getByLabel('Text', { exact: true }).fill('Hi {{customer.name}}, thanks!');
  await page.getByLabel('Sample values for the preview').fill('customer.name: Asha');
  await page.locator('#preview .sms', { hasText: 'Hi Asha, thanks!' }).waitFor();
  expect((await page.locator('#preview').textContent()).includes('GSM-7'), 'GSM-7 at first');
  await page.getByLabel('Text', { exact: true }).pressSequentially(' ✨');
  await page.locator('#preview', { hasText: 'UCS-2' }).waitFor();

  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Messages' }).click();
  await page.getByRole('link', { name: 'Send a message' }).click();

  // Without a kind of message: refused, and what was typed stays.
  await page.getByLabel('To', { exact: true }).fill(to);
  await page.getByLabel('Text').fill('Your parcel left our warehouse today.');
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('alert').getByText('transactional or a marketing').waitFor();
  expect(await page.getByLabel('To', { exact: true }).inputValue() === to, 'the number kept');

  await page.getByRole('radio', { name: /Transactional/ }).check();
  await page.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('heading', { name: `Message to ${to}` }).waitFor();
  await expectNoSidewaysScroll(page);
  // The provider delivers after seconds (the test sets the sandbox so): the page is
  // first seen waiting, with a timeline that follows the message.
  expect(await page.locator('#timeline[data-live]').count() === 1, 'a live timeline');
  expect(!(await page.locator('#status').textContent()).includes('delivered'), 'not delivered yet');
  const navigations = [];
  page.on('framenavigated', (frame) => navigations.push(frame.url()));

  // queued -> sending -> sent -> delivered, by the timeline's own updates.
  await page.locator('#status', { hasText: 'delivered' }).waitFor({ timeout: 60000 });
  expect(navigations.length === 0, `no reload (navigated to ${navigations})`);
  const kinds = await page.locator('.timeline > li > strong').allTextContents();
  for (const kind of ['queued', 'sending', 'sent', 'provider status']) {
    expect(kinds.includes(kind), `a ${kind} event in [${kinds}]`);
  }
  expect(await page.locator('#timeline[data-live]').count() === 0, 'updates stop once delivered');

  // And the log lists it as delivered.
  await page.getByRole('link', { name: '← Messages' }).click();
  await page.getByRole('link', { name: to }).first().waitFor();
  expect(await page.locator('.messages .status-delivered').count() === 1, 'delivered in the log');
});
