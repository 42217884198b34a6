// Placeholder until the sandbox examples land: builds nothing.
console.log('examples: nothing to build yet')
