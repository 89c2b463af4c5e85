// A care agent works a conversation that waits for a person, in headless Chromium at
// phone width, against the whole stack: the waiting conversation in the queue, the
// customer's text, a new text arriving while the page is open (no reload), the answer
// reaching `delivered`, and handing the conversation back to the bot.
//
// Usage: node care_answer.mjs BASE_URL SANDBOX_URL EMAIL CUSTOMER SHOP_NUMBER
//   EMAIL     a care agent whose password is lib.mjs's PASSWORD
//   CUSTOMER  the number whose conversation waits; SHOP_NUMBER the shop's number
import { PASSWORD, expect, expectNoSidewaysScroll, run } from './lib.mjs';

const [base, sandbox, email, customer, shopNumber] = process.argv.slice(2);

async function customerTexts(body) {
  const response = await fetch(`${sandbox}/sandbox/inbound`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ from: customer, to: shopNumber, body }),
  });
  expect(response.ok, `the sandbox to take the customer's text (${response.status})`);
}

await run('care-answer', async (page) => {
  await page.goto(`${base}/console/sign-in`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Account' }).getByRole('link', { name: 'Conversations' }).click();

  // The queue: conversations waiting for a person.
  await page.getByRole('link', { name: 'Waiting for a person' }).waitFor();
  expect(await page.getByText('asked for a person').count() === 1, 'the reason in the queue');
  await page.getByRole('link', { name: customer }).click();
  await page.getByRole('heading', { name: `Conversation with ${customer}` }).waitFor();
  await page.getByText('can I talk to a human').waitFor();
  await expectNoSidewaysScroll(page);
  const navigations = [];
  page.on('framenavigated', (frame) => navigations.push(frame.url()));

  // The customer writes again while the agent reads: it appears by itself.
  await customerTexts('my order #1042 never arrived');
  await page.getByText('my order #1042 never arrived').waitFor({ timeout: 30000 });
  expect(navigations.length === 0, 'no reload for a new text');

  await page.getByLabel('Your answer').fill('Sorry about that! A new parcel leaves today.');
  await page.getByRole('button', { name: 'Send answer' }).click();
  const answer = page.locator('.thread li.outbound', { hasText: 'A new parcel leaves today.' });
  await answer.waitFor();
  await answer.locator('.status-delivered').waitFor({ timeout: 60000 });
  expect(await page.getByLabel('Your answer').inputValue() === '', 'the form is empty again');

  await page.getByRole('button', { name: 'Hand back to the bot' }).click();
  await page.getByText('The bot answers this conversation.').waitFor();
  await page.getByRole('link', { name: '← Conversations' }).click();
  await page.getByText('Nobody is waiting for a person.').waitFor();
});
