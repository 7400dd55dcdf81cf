import { parse } from './args.js';
import type { Command } from './command.js';

const help = `Usage: rtfmri serve [options]\n\n(not available yet in this build)`;

export const serveCommand: Command = {
  name: 'serve',
  summary: '',
  help,
  async run(argv, io) {
    const p = parse(argv, {}, { min: 0, max: 0 });
    if (p.values.help) return io.out(help), 0;
    throw new Error('rtfmri serve is not available yet in this build');
  },
};
