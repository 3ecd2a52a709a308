// The `chatgpt` npm client (v5.2.2), unchanged, against the server at OPENAI_BASE_URL: a plain reply, a streamed
// follow-up through onProgress (it resolves only on `data: [DONE]`, and keys its conversation by reply id), and
// the error it raises on a non-2xx answer. Prints one JSON line for the Python test to check.
import { ChatGPTAPI } from 'chatgpt'

const base = process.env.OPENAI_BASE_URL
const api = new ChatGPTAPI({ apiKey: 'sk-node-test', apiBaseUrl: base, completionParams: { model: 'gpt-4o-mini' } })
const out = {}
const first = await api.sendMessage('Write two sentences about lighthouses.')
out.first = { id: first.id, text: first.text }
const partial = []
const second = await api.sendMessage('And about their keepers?', {
  parentMessageId: first.id,
  onProgress: (message) => partial.push(message.text),
})
out.second = { id: second.id, text: second.text, parentMessageId: second.parentMessageId, progress: partial }
try {
  await new ChatGPTAPI({ apiKey: 'sk-wrong-key', apiBaseUrl: base }).sendMessage('hi')
  out.error = null
} catch (err) {
  out.error = { name: err.constructor.name, statusCode: err.statusCode, message: String(err.message) }
}
console.log(JSON.stringify(out))
