exports.greeting = () => "hello from node-express";
